/* Mandelbrot escape counts, one work-item per pixel: an example kernel for
 * an "opencl" job (examples/opencl-mandelbrot.json). SPDX-License-Identifier: MIT */
__kernel void mandelbrot(__global uchar *out, int width, int height, float x0, float y0,
                         float scale, uint max_iter)
{
    int x = get_global_id(0), y = get_global_id(1);
    float cr = x0 + x * scale, ci = y0 + y * scale;
    float zr = 0.0f, zi = 0.0f;
    uint i = 0;
    while (i < max_iter && zr * zr + zi * zi <= 4.0f) {
        float t = zr * zr - zi * zi + cr;
        zi = 2.0f * zr * zi + ci;
        zr = t;
        i++;
    }
    out[(size_t)y * width + x] = (uchar)(i * 255 / max_iter);
}
