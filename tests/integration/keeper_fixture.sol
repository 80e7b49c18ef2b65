// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

// Test fixtures for tests/integration/keeper.sh and tests/bench/bench_keeper.sh:
// a client and a worker that create, claim and submit many LoomEscrow jobs per
// transaction, so that hundreds of jobs fall due at once cheaply.

interface IKeeperFixtureEscrow {
    function create(bytes32 ref, uint64 priceCents, bytes32 specHash, uint32 deadline, uint32 maxRuntime, uint32 window)
        external
        payable
        returns (bytes32);
    function claim(bytes32 jobId) external;
    function submit(bytes32 jobId, bytes32 resultHash) external;
    function quote(uint64 priceCents) external view returns (uint256);
}

contract KeeperFixtureClient {
    bytes32[] public ids;

    /// Creates n jobs with refs start..start+n-1, paying the exact quote for each.
    function createMany(
        IKeeperFixtureEscrow esc,
        uint256 start,
        uint256 n,
        uint64 cents,
        uint32 deadline,
        uint32 maxRuntime,
        uint32 window
    ) external payable {
        uint256 q = esc.quote(cents);
        for (uint256 i; i < n; ++i) {
            ids.push(esc.create{value: q}(bytes32(start + i), cents, bytes32(uint256(1)), deadline, maxRuntime, window));
        }
    }

    function idsFrom(uint256 from, uint256 n) external view returns (bytes32[] memory out) {
        out = new bytes32[](n);
        for (uint256 i; i < n; ++i) out[i] = ids[from + i];
    }

    function count() external view returns (uint256) {
        return ids.length;
    }

    receive() external payable {}
}

contract KeeperFixtureWorker {
    /// Claims each job and, when submitIt, submits a result at once.
    function work(IKeeperFixtureEscrow esc, bytes32[] calldata jobIds, bool submitIt) external {
        for (uint256 i; i < jobIds.length; ++i) {
            esc.claim(jobIds[i]);
            if (submitIt) esc.submit(jobIds[i], bytes32(uint256(2)));
        }
    }
}
