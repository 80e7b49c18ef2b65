// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @dev The one LoomEscrow function the benchmark calls.
interface ILoomEscrow {
    function create(bytes32 ref, uint64 priceCents, bytes32 specHash, uint32 deadline, uint32 maxRuntime, uint32 window)
        external
        payable
        returns (bytes32 jobId);
}

/// @title BenchFanout
/// @notice Benchmark helper for tests/bench/bench_indexer.sh: creates `n`
/// escrow jobs in one transaction (refs start..start+n-1, each paying
/// `value`), so 100,000 JobCreated events take about a hundred transactions.
contract BenchFanout {
    function many(ILoomEscrow escrow, uint256 start, uint256 n, uint256 value, uint32 deadline) external payable {
        for (uint256 i; i < n; ++i) {
            escrow.create{value: value}(bytes32(start + i), 1250, bytes32(uint256(0x5e)), deadline, 600, 600);
        }
    }
}
