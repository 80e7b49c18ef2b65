// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {AggregatorV3Interface} from "@chainlink/contracts/src/v0.8/shared/interfaces/AggregatorV3Interface.sol";
import {MockV3Aggregator} from "@chainlink/contracts/src/v0.8/tests/MockV3Aggregator.sol";
import {LoomEscrow} from "../src/LoomEscrow.sol";

/// @dev The few forge cheatcodes these tests use (public Vm ABI; forge-std is not on npm).
interface Vm {
    struct Gas {
        uint64 gasLimit;
        uint64 gasTotalUsed;
        uint64 gasMemoryUsed;
        int64 gasRefunded;
        uint64 gasRemaining;
    }

    function warp(uint256 timestamp) external;
    function prank(address sender) external;
    function startPrank(address sender) external;
    function stopPrank() external;
    function deal(address account, uint256 balance) external;
    function etch(address target, bytes calldata code) external;
    function load(address target, bytes32 slot) external view returns (bytes32);
    function expectRevert(bytes calldata revertData) external;
    function expectRevert(bytes4 selector) external;
    function expectEmit(bool t1, bool t2, bool t3, bool data, address emitter) external;
    function assume(bool condition) external pure;
    function lastCallGas() external view returns (Gas memory);
    function pauseGasMetering() external;
    function resumeGasMetering() external;
}

/// @dev Answers latestRoundData with whatever it is told (rounds the Chainlink mock cannot express).
contract ScriptedFeed is AggregatorV3Interface {
    uint80 public r;
    int256 public a;
    uint256 public s;
    uint256 public u;
    uint80 public air;
    uint8 public immutable DEC;

    constructor(uint8 dec) {
        DEC = dec;
    }

    function set(uint80 roundId, int256 answer, uint256 startedAt, uint256 updatedAt, uint80 answeredInRound)
        external
    {
        (r, a, s, u, air) = (roundId, answer, startedAt, updatedAt, answeredInRound);
    }

    function decimals() external view returns (uint8) {
        return DEC;
    }

    function description() external pure returns (string memory) {
        return "scripted";
    }

    function version() external pure returns (uint256) {
        return 1;
    }

    function getRoundData(uint80) external view returns (uint80, int256, uint256, uint256, uint80) {
        return (r, a, s, u, air);
    }

    function latestRoundData() external view returns (uint80, int256, uint256, uint256, uint80) {
        return (r, a, s, u, air);
    }
}

/// @dev A recipient that refuses ETH.
contract Refuser {
    LoomEscrow internal immutable E;

    constructor(LoomEscrow e) {
        E = e;
    }

    receive() external payable {
        revert("no");
    }

    function create(bytes32 ref, uint64 cents, uint256 value) external returns (bytes32) {
        return E.create{value: value}(ref, cents, bytes32(uint256(1)), 0, 1 hours, 1 hours);
    }

    function claim(bytes32 id) external {
        E.claim(id);
    }

    function submit(bytes32 id) external {
        E.submit(id, bytes32(uint256(2)));
    }

    function withdraw() external {
        E.withdraw();
    }

    function withdrawTo(address payable to) external {
        E.withdrawTo(to);
    }
}

/// @dev A recipient that burns all the gas it is given.
contract GasHog {
    LoomEscrow internal immutable E;

    constructor(LoomEscrow e) {
        E = e;
    }

    // solhint-disable-next-line no-complex-fallback
    receive() external payable {
        while (true) {}
    }

    function claim(bytes32 id) external {
        E.claim(id);
    }

    function submit(bytes32 id) external {
        E.submit(id, bytes32(uint256(2)));
    }

    /// Withdraws with a bounded gas budget (the hook burns everything it gets).
    function withdraw() external {
        E.withdraw{gas: 2_000_000}();
    }
}

/// @dev Tries to re-enter the escrow from its receive hook.
contract Reenterer {
    LoomEscrow internal immutable E;
    bytes32 public target;
    uint256 public mode; // 1 withdraw, 2 release, 3 create
    bool public reentryFailed;
    bytes public reentryError;

    constructor(LoomEscrow e) {
        E = e;
    }

    function setMode(uint256 m, bytes32 t) external {
        (mode, target) = (m, t);
    }

    // solhint-disable avoid-low-level-calls, no-complex-fallback
    receive() external payable {
        bool ok;
        bytes memory err;
        if (mode == 1) (ok, err) = address(E).call(abi.encodeCall(LoomEscrow.withdraw, ()));
        else if (mode == 2) (ok, err) = address(E).call(abi.encodeCall(LoomEscrow.release, (target)));
        else (ok, err) = address(E).call(abi.encodeCall(LoomEscrow.claim, (target)));
        reentryFailed = !ok;
        reentryError = err;
    }
    // solhint-enable avoid-low-level-calls, no-complex-fallback

    function create(bytes32 ref, uint64 cents, uint256 value) external returns (bytes32) {
        return E.create{value: value}(ref, cents, bytes32(uint256(1)), 0, 1 hours, 1 hours);
    }

    function claim(bytes32 id) external {
        E.claim(id);
    }

    function submit(bytes32 id) external {
        E.submit(id, bytes32(uint256(2)));
    }

    function withdraw() external {
        E.withdraw();
    }
}

abstract contract Base {
    Vm internal constant VM = Vm(address(uint160(uint256(keccak256("hevm cheat code")))));

    uint32 internal constant HEARTBEAT = 3600;
    uint32 internal constant T0 = 1_800_000_000;
    int256 internal constant ETH_USD = 3000_00000000; // 3000.00000000, 8 decimals

    MockV3Aggregator internal feed;
    LoomEscrow internal esc;
    address internal constant CLIENT = address(0xC11E);
    address internal constant CLIENT2 = address(0xC22E);
    address internal constant WORKER = address(0xB0B);
    address internal constant WORKER2 = address(0xB0B2);
    address internal constant ANYONE = address(0xA11CE);
    address internal constant ARBITER = address(0xA2B);
    address internal constant GUARDIAN = address(0x6A2D);
    bytes32 internal constant SPEC = keccak256("spec");
    bytes32 internal constant RESULT = keccak256("result");
    bytes32 internal constant REF = bytes32("job-1");

    function _setUpBase() internal {
        VM.warp(T0);
        feed = new MockV3Aggregator(8, ETH_USD);
        esc = new LoomEscrow(feed, HEARTBEAT, AggregatorV3Interface(address(0)), 0, ARBITER, GUARDIAN);
        VM.deal(CLIENT, 1000 ether);
        VM.deal(CLIENT2, 1000 ether);
    }

    /// @dev Runtime code that refuses ETH (PUSH0 PUSH0 REVERT); VM.etch puts it on an account.
    bytes internal constant REVERTS = hex"5f5ffd";

    /// @dev $12.34 at $3000.00 = 0.004113333... ETH, rounded up to the wei.
    uint64 internal constant CENTS = 1234;
    uint256 internal constant WEI = 4113333333333334;

    function _create(address client, bytes32 ref) internal returns (bytes32) {
        VM.prank(client);
        return esc.create{value: WEI}(ref, CENTS, SPEC, 0, 1 hours, 1 days);
    }

    function _claimed(address client, bytes32 ref, address worker) internal returns (bytes32 id) {
        id = _create(client, ref);
        VM.prank(worker);
        esc.claim(id);
    }

    function _submitted(address client, bytes32 ref, address worker) internal returns (bytes32 id) {
        id = _claimed(client, ref, worker);
        VM.prank(worker);
        esc.submit(id, RESULT);
    }

    /// @dev The raw balance slot of `account` (LoomEscrow's `_credit`, storage slot 2 after
    /// `paused` and `_jobs`): 0 = never written (payouts are sent), else balance + 1.
    function _slot(address account) internal view returns (uint256) {
        return uint256(VM.load(address(esc), keccak256(abi.encode(account, uint256(2)))));
    }

    /// @dev Settles `id` by accept while `worker` refuses ETH (code REVERTS, removed again
    /// afterwards), so the worker is credited: its balance slot is in use from then on.
    function _acceptCredited(bytes32 id, address worker) internal {
        VM.etch(worker, REVERTS);
        VM.prank(esc.getJob(id).client);
        esc.accept(id);
        VM.etch(worker, "");
    }

    function _bound(uint256 x, uint256 lo, uint256 hi) internal pure returns (uint256) {
        if (hi <= lo) return lo;
        return lo + (x % (hi - lo + 1));
    }

    error Mismatch(string what, uint256 got, uint256 want);

    function _eq(uint256 got, uint256 want, string memory what) internal pure {
        if (got != want) revert Mismatch(what, got, want);
    }

    function _ok(bool c, string memory what) internal pure {
        if (!c) revert(what);
    }
}
