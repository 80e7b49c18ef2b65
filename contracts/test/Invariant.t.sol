// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {AggregatorV3Interface} from "@chainlink/contracts/src/v0.8/shared/interfaces/AggregatorV3Interface.sol";
import {MockV3Aggregator} from "@chainlink/contracts/src/v0.8/tests/MockV3Aggregator.sol";
import {LoomEscrow} from "../src/LoomEscrow.sol";
import {Vm, Refuser} from "./Base.sol";

interface VmLogs {
    struct Log {
        bytes32[] topics;
        bytes data;
        address emitter;
    }

    function recordLogs() external;
    function getRecordedLogs() external returns (Log[] memory);
}

/// @dev Drives the escrow with random clients, workers, prices and times, and
/// keeps a ghost ledger built from the escrow's own settlement events and, for
/// every settling call, from each actor's wallet and escrow balance: what an
/// event pays a party must show up exactly as that party's wallet growth (a
/// push) plus its escrow balance growth (a credit).
contract Handler {
    Vm internal constant VM = Vm(address(uint160(uint256(keccak256("hevm cheat code")))));
    VmLogs internal constant LOGS = VmLogs(address(uint160(uint256(keccak256("hevm cheat code")))));

    LoomEscrow public immutable ESC;
    MockV3Aggregator public immutable FEED;
    address public immutable ARBITER;
    Refuser public immutable REFUSER; // a worker that cannot receive ETH

    address[] public actors; // clients 0..2, workers 3..5, the refuser 6
    bytes32[] public jobs;
    mapping(bytes32 => uint256) public toWorker;
    mapping(bytes32 => uint256) public toClient;
    mapping(bytes32 => uint256) public settlements;
    uint256 public credited; // sum of credits: surplus events, and settlements measured as balance growth
    uint256 public pushed; // sum of settlements measured as wallet growth
    uint256 public settledTotal; // sum of the settlement events' amounts
    uint256 public pushMisses; // settling calls where some party's wallet + balance growth != its events' amounts
    uint256 public badPushes; // wei sent to an account with code or a used balance slot (must stay 0)
    uint256 public surplusCredited; // sum of SurplusCredited amounts (part of credited)
    uint256 public withdrawn; // sum of successful withdrawals (forge records the logs of reverted calls too)
    uint256 public nonce;
    uint256 public calls;

    bytes32 internal constant RELEASED = keccak256("PaymentReleased(bytes32,address,address,uint256,bool)");
    bytes32 internal constant REFUNDED = keccak256("JobRefunded(bytes32,address,address,uint256)");
    bytes32 internal constant RESOLVED = keccak256("DisputeResolved(bytes32,address,address,uint256,uint256)");
    bytes32 internal constant SURPLUS = keccak256("SurplusCredited(address,uint256)");

    constructor(LoomEscrow esc, MockV3Aggregator feed, address arbiter) {
        ESC = esc;
        FEED = feed;
        ARBITER = arbiter;
        REFUSER = new Refuser(esc);
        for (uint160 i = 1; i <= 6; ++i) {
            actors.push(address(0x1000 + i));
            VM.deal(address(0x1000 + i), 1_000_000 ether);
        }
        actors.push(address(REFUSER));
        VM.deal(address(REFUSER), 1_000_000 ether);
    }

    function actorCount() external view returns (uint256) {
        return actors.length;
    }

    function jobCount() external view returns (uint256) {
        return jobs.length;
    }

    function _job(uint256 seed) internal view returns (bytes32) {
        return jobs.length == 0 ? bytes32(0) : jobs[seed % jobs.length];
    }

    function _worker(uint256 seed) internal view returns (address) {
        return actors[3 + seed % 4];
    }

    /// Reads the settlement events of the last call into the ghost ledger.
    function _ledger() internal {
        VmLogs.Log[] memory logs = LOGS.getRecordedLogs();
        for (uint256 i; i < logs.length; ++i) {
            if (logs[i].emitter != address(ESC)) continue;
            bytes32 t = logs[i].topics[0];
            if (t == RELEASED) {
                (uint256 amount,) = abi.decode(logs[i].data, (uint256, bool));
                _settle(logs[i].topics[1], amount, 0);
            } else if (t == REFUNDED) {
                _settle(logs[i].topics[1], 0, abi.decode(logs[i].data, (uint256)));
            } else if (t == RESOLVED) {
                (uint256 w, uint256 c) = abi.decode(logs[i].data, (uint256, uint256));
                _settle(logs[i].topics[1], w, c);
            } else if (t == SURPLUS) {
                uint256 amount = abi.decode(logs[i].data, (uint256));
                credited += amount;
                surplusCredited += amount;
            }
        }
    }

    function _settle(bytes32 id, uint256 w, uint256 c) internal {
        settlements[id] += 1;
        toWorker[id] += w;
        toClient[id] += c;
        settledTotal += w + c;
        (address client, address worker) = (ESC.getJob(id).client, ESC.getJob(id).worker);
        for (uint256 i; i < actors.length; ++i) {
            if (actors[i] == worker) _snap[i].due += w;
            if (actors[i] == client) _snap[i].due += c;
        }
    }

    /// One actor around a settling call: wallet, escrow balance and raw balance slot
    /// (0 = never credited) before it, and what the call's settlement events pay it.
    struct Snap {
        uint256 wallet;
        uint256 bal;
        uint256 raw;
        uint256 due;
    }

    Snap[7] internal _snap;

    /// The escrow's raw balance slot of `a` (storage slot 2: `paused`, `_jobs`, `_credit`).
    function _slotOf(address a) internal view returns (uint256) {
        return uint256(VM.load(address(ESC), keccak256(abi.encode(a, uint256(2)))));
    }

    modifier recorded() {
        ++calls;
        LOGS.recordLogs();
        _;
        _ledger();
    }

    /// A call that may settle jobs: each actor's wallet growth is what was pushed to it,
    /// its balance growth what was credited, and together they are what the events pay it.
    modifier settling() {
        ++calls;
        for (uint256 i; i < actors.length; ++i) {
            _snap[i] = Snap(actors[i].balance, ESC.balanceOf(actors[i]), _slotOf(actors[i]), 0);
        }
        LOGS.recordLogs();
        _;
        _ledger();
        for (uint256 i; i < actors.length; ++i) {
            Snap memory b = _snap[i];
            uint256 p = actors[i].balance - b.wallet; // settling calls never take from a wallet
            uint256 c = ESC.balanceOf(actors[i]) - b.bal;
            pushed += p;
            credited += c;
            if (p + c != b.due) ++pushMisses;
            if (p != 0 && (b.raw != 0 || actors[i].code.length != 0)) badPushes += p;
        }
    }

    function create(uint256 clientSeed, uint64 cents, uint32 runtime, uint32 window, uint256 extra, bool refuser)
        external
        recorded
    {
        cents = uint64(1 + cents % 10_000_000); // up to $100,000
        runtime = uint32(1 + runtime % 3 days);
        window = uint32(window % 3 days);
        bytes32 ref = bytes32(++nonce);
        uint256 amount = ESC.quote(cents);
        extra = extra % 1 ether;
        if (refuser) {
            bytes32 id = REFUSER.create(ref, cents, amount + extra); // its surplus is credited
            jobs.push(id);
            return;
        }
        address client = actors[clientSeed % 3];
        VM.prank(client);
        jobs.push(ESC.create{value: amount + extra}(ref, cents, keccak256(abi.encode(ref)), 0, runtime, window));
    }

    function claim(uint256 jobSeed, uint256 workerSeed) external recorded {
        bytes32 id = _job(jobSeed);
        address w = _worker(workerSeed);
        if (w == address(REFUSER)) {
            try REFUSER.claim(id) {} catch {}
            return;
        }
        VM.prank(w);
        try ESC.claim(id) {} catch {}
    }

    function submit(uint256 jobSeed, bytes32 result) external recorded {
        bytes32 id = _job(jobSeed);
        address w = ESC.getJob(id).worker;
        if (w == address(REFUSER)) {
            try REFUSER.submit(id) {} catch {}
            return;
        }
        VM.prank(w);
        try ESC.submit(id, result | bytes32(uint256(1))) {} catch {}
    }

    function accept(uint256 jobSeed) external settling {
        bytes32 id = _job(jobSeed);
        VM.prank(ESC.getJob(id).client);
        try ESC.accept(id) {} catch {}
    }

    function dispute(uint256 jobSeed) external recorded {
        bytes32 id = _job(jobSeed);
        VM.prank(ESC.getJob(id).client);
        try ESC.dispute(id) {} catch {}
    }

    function resolve(uint256 jobSeed, uint256 split) external settling {
        bytes32 id = _job(jobSeed);
        uint256 amount = ESC.getJob(id).amount;
        VM.prank(ARBITER);
        try ESC.resolve(id, amount == 0 ? 0 : split % (amount + 1)) {} catch {}
    }

    function release(uint256 jobSeed) external settling {
        try ESC.release(_job(jobSeed)) {} catch {}
    }

    function reopen(uint256 jobSeed) external recorded {
        try ESC.reopen(_job(jobSeed)) {} catch {}
    }

    function refund(uint256 jobSeed) external settling {
        try ESC.refund(_job(jobSeed)) {} catch {}
    }

    function withdraw(uint256 actorSeed) external recorded {
        address a = actors[actorSeed % actors.length];
        uint256 before = ESC.balanceOf(a);
        if (a == address(REFUSER)) {
            try REFUSER.withdraw() {} catch {}
        } else {
            VM.prank(a);
            try ESC.withdraw() {} catch {}
        }
        withdrawn += before - ESC.balanceOf(a);
    }

    /// A keeper's batch: random jobs with random actions, some listed twice.
    function upkeep(uint256 seed, uint8 n) external settling {
        n = uint8(n % 12);
        LoomEscrow.Item[] memory items = new LoomEscrow.Item[](n);
        for (uint256 i; i < n; ++i) {
            uint256 s = uint256(keccak256(abi.encode(seed, i)));
            items[i] = LoomEscrow.Item(_job(s), LoomEscrow.Action(s % 4));
        }
        ESC.performUpkeep(abi.encode(items));
    }

    function warp(uint32 dt) external {
        ++calls;
        VM.warp(block.timestamp + dt % 2 days);
        FEED.updateAnswer(FEED.latestAnswer()); // keep the price fresh
    }

    function setPrice(uint256 p) external {
        ++calls;
        FEED.updateAnswer(int256(100e8 + p % 100_000e8)); // $100 .. $100,100
    }
}

/// @dev Invariants over 10,000 random calls each (foundry.toml: runs x depth).
/// Not isolated: the handler's ghost ledger reads logs recorded inside one call.
/// forge-config: default.isolate = false
contract InvariantTest {
    Vm internal constant VM = Vm(address(uint160(uint256(keccak256("hevm cheat code")))));

    LoomEscrow internal esc;
    Handler internal handler;

    error Broken(string what, bytes32 jobId, uint256 got, uint256 want);

    function setUp() public {
        VM.warp(1_800_000_000);
        MockV3Aggregator feed = new MockV3Aggregator(8, 3000e8);
        esc = new LoomEscrow(feed, 1 days, AggregatorV3Interface(address(0)), 0, address(0xA2B), address(0x6A2D));
        handler = new Handler(esc, feed, address(0xA2B));
    }

    /// The handler really settles jobs and its ledger really reads the events
    /// (so the invariants cannot pass vacuously).
    function test_handlerLedgerSeesSettlements() public {
        handler.create(0, 1234, 100, 100, 0, false);
        handler.create(1, 5000, 100, 0, 5, true);
        handler.claim(0, 0);
        handler.claim(1, 1);
        handler.submit(0, bytes32("r"));
        handler.accept(0);
        VM.warp(block.timestamp + 200);
        handler.reopen(1);
        VM.warp(block.timestamp + 8 days);
        handler.refund(1);
        bytes32 a = handler.jobs(0);
        bytes32 b = handler.jobs(1);
        LoomEscrow.Job memory ja = esc.getJob(a);
        if (handler.settlements(a) != 1 || handler.toWorker(a) != ja.amount) revert Broken("a", a, 0, 1);
        if (handler.settlements(b) != 1 || handler.toClient(b) != esc.getJob(b).amount) revert Broken("b", b, 0, 1);
        // Job a paid its EOA worker's wallet; job b's refund and the surplus went to the
        // refusing contract client's balance.
        if (handler.pushed() != ja.amount) revert Broken("pushed", a, handler.pushed(), ja.amount);
        if (handler.credited() != esc.getJob(b).amount + 5) revert Broken("credited", b, handler.credited(), 0);
        if (handler.settledTotal() != ja.amount + esc.getJob(b).amount) revert Broken("settled", 0, 0, 0);
        invariant_pushedPlusCreditedIsSettled();
        invariant_balanceIsLockedPlusWithdrawable();
        invariant_noJobPaidTwice();
        invariant_moneyEndsWithOneParty();
    }

    function targetContracts() public view returns (address[] memory t) {
        t = new address[](1);
        t[0] = address(handler);
    }

    function _active(LoomEscrow.Status s) internal pure returns (bool) {
        return s == LoomEscrow.Status.Open || s == LoomEscrow.Status.Claimed || s == LoomEscrow.Status.Submitted
            || s == LoomEscrow.Status.Disputed;
    }

    /// The escrow's balance is exactly the locked escrow plus what accounts may withdraw.
    function invariant_balanceIsLockedPlusWithdrawable() public view {
        uint256 locked;
        uint256 n = handler.jobCount();
        for (uint256 i; i < n; ++i) {
            LoomEscrow.Job memory j = esc.getJob(handler.jobs(i));
            if (_active(j.status)) locked += j.amount;
        }
        uint256 owed;
        uint256 a = handler.actorCount();
        for (uint256 i; i < a; ++i) {
            owed += esc.balanceOf(handler.actors(i));
        }
        if (address(esc).balance != locked + owed) revert Broken("balance", 0, address(esc).balance, locked + owed);
        // And the settlement events account for every credit that is still owed.
        if (handler.credited() - handler.withdrawn() != owed) {
            revert Broken("ledger", 0, owed, handler.credited() - handler.withdrawn());
        }
    }

    /// Every settlement event's amount reached its party, as a push to an EOA with an unused
    /// balance slot or as a credit, never both and never neither; nothing else was pushed.
    function invariant_pushedPlusCreditedIsSettled() public view {
        if (handler.pushMisses() != 0) revert Broken("a party's growth != its events", 0, handler.pushMisses(), 0);
        if (handler.badPushes() != 0) revert Broken("sent to a contract or a used slot", 0, handler.badPushes(), 0);
        // credited also holds the surplus credits (SurplusCredited), which are no settlement.
        uint256 surplus = handler.surplusCredited();
        if (handler.pushed() + handler.credited() - surplus != handler.settledTotal()) {
            revert Broken("pushed + credited", 0, handler.pushed() + handler.credited() - surplus, handler.settledTotal());
        }
    }

    /// No job is ever settled (paid) more than once, and every finished job exactly once.
    function invariant_noJobPaidTwice() public view {
        uint256 n = handler.jobCount();
        for (uint256 i; i < n; ++i) {
            bytes32 id = handler.jobs(i);
            uint256 want = _active(esc.getJob(id).status) ? 0 : 1;
            if (handler.settlements(id) != want) revert Broken("settlements", id, handler.settlements(id), want);
        }
    }

    /// A job's money ends with exactly one of worker or client, or is split only by the arbiter.
    function invariant_moneyEndsWithOneParty() public view {
        uint256 n = handler.jobCount();
        for (uint256 i; i < n; ++i) {
            bytes32 id = handler.jobs(i);
            LoomEscrow.Job memory j = esc.getJob(id);
            uint256 w = handler.toWorker(id);
            uint256 c = handler.toClient(id);
            if (j.status == LoomEscrow.Status.Released) {
                if (w != j.amount || c != 0) revert Broken("released", id, w, j.amount);
            } else if (j.status == LoomEscrow.Status.Refunded) {
                if (c != j.amount || w != 0) revert Broken("refunded", id, c, j.amount);
            } else if (j.status == LoomEscrow.Status.Resolved) {
                if (w + c != j.amount) revert Broken("resolved", id, w + c, j.amount);
            } else if (w != 0 || c != 0) {
                revert Broken("active job paid", id, w + c, 0);
            }
        }
    }
}
