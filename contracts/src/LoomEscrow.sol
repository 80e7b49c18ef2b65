// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {AggregatorV3Interface} from "@chainlink/contracts/src/v0.8/shared/interfaces/AggregatorV3Interface.sol";
import {AutomationCompatibleInterface} from
    "@chainlink/contracts/src/v0.8/automation/interfaces/AutomationCompatibleInterface.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";

/// @title LoomEscrow
/// @author The Loom
/// @notice Escrow for The Loom's compute jobs. A client locks a job's USD price,
/// converted to wei with a Chainlink ETH/USD feed; a worker claims the job,
/// commits the sha256 of its result and is paid when the client accepts or the
/// challenge window passes. A payout is sent straight to a payee without code
/// (an EOA) whose balance slot has never been written, and credited to that
/// slot (a pull payment: withdraw) otherwise or when the send fails.
/// @dev Lifecycle and rules are documented in docs/contracts.md. Timestamps are
/// uint32 seconds (valid until 2106). Storage is packed for gas (see Stored).
contract LoomEscrow is ReentrancyGuardTransient, AutomationCompatibleInterface {
    /// @notice Where a job stands. None = no such job.
    enum Status {
        None,
        Open,
        Claimed,
        Submitted,
        Disputed,
        Released,
        Refunded,
        Resolved
    }

    /// @notice Keeper actions in performUpkeep's list.
    enum Action {
        None,
        Release,
        Refund,
        Reopen
    }

    /// @notice One (jobId, action) pair of performData; see docs/contracts.md.
    struct Item {
        bytes32 jobId;
        Action action;
    }

    /// @notice A job as getJob returns it (docs/contracts.md "getJob"). This is
    /// the external view only; storage is laid out differently (see Stored).
    /// `expiry` is the claim's lapse time while Claimed and the end of the
    /// challenge window once Submitted, 0 while Open. While Open after a reopen,
    /// `worker` is the lapsed claimer, who may not claim this job again.
    struct Job {
        address client;
        uint96 amount;
        address worker;
        Status status;
        uint32 deadline;
        uint32 expiry;
        uint32 maxRuntime;
        uint32 window;
        uint64 priceCents;
        bytes32 specHash;
    }

    /// @dev A job in storage, four slots written once at create; a transition
    /// rewrites `state` only (plus a balance slot when money is credited, not pushed).
    /// `state` carries everything claim needs, and with `parties` everything
    /// submit and release need, so no transition reads slots 2 and 3 but reopen
    /// (docs/contracts.md "Gas", storage layout). `state`'s bits, low to high:
    /// [0, 160) an address: the client's copy while ST_OPEN (saves claim a
    /// read of `parties`), the worker from the claim on, the lapsed claimer
    /// while ST_REOPENED, address(0) once refunded unclaimed;
    /// [160, 164) the stage, ST_*; [164, 196) deadline; [196, 228) expiry,
    /// which holds maxRuntime while the job is open (ST_OPEN, ST_REOPENED);
    /// [228, 256) the challenge window (at most MAX_DURATION < 2^28).
    /// `parties` = client | amount << 160. The result's sha256 is committed in
    /// the JobSubmitted event only (nothing on chain reads it; storing it would
    /// cost 20,000 gas per job).
    struct Stored {
        uint256 state;
        uint256 parties;
        uint32 maxRuntime;
        uint32 window;
        uint64 priceCents;
        bytes32 specHash;
    }

    /// @notice Default deadline when create is given 0: 7 days.
    uint32 public constant DEFAULT_DEADLINE = 7 days;
    /// @notice Longest deadline, claim runtime or challenge window: 365 days.
    uint32 public constant MAX_DURATION = 365 days;
    /// @notice Most items performUpkeep accepts, and checkUpkeep returns, per call.
    uint256 public constant MAX_BATCH = 100;

    // Stages in Stored.state: Status values, except that Open is split in two.
    uint256 private constant ST_NONE = 0;
    /// @dev Open, never claimed: state's address field is the client.
    uint256 private constant ST_OPEN = 1;
    uint256 private constant ST_CLAIMED = 2;
    uint256 private constant ST_SUBMITTED = 3;
    uint256 private constant ST_DISPUTED = 4;
    uint256 private constant ST_RELEASED = 5;
    uint256 private constant ST_REFUNDED = 6;
    uint256 private constant ST_RESOLVED = 7;
    /// @dev Open again after a reopen: state's address field is the lapsed claimer.
    uint256 private constant ST_REOPENED = 8;
    // Bit offsets of Stored.state's fields (see Stored).
    uint256 private constant OFF_STAGE = 160;
    uint256 private constant OFF_DEADLINE = 164;
    uint256 private constant OFF_EXPIRY = 196;
    uint256 private constant OFF_WINDOW = 228;

    /// @notice Chainlink ETH/USD feed.
    AggregatorV3Interface public immutable PRICE_FEED;
    /// @notice Chainlink L2 sequencer uptime feed, or address(0) where there is none.
    AggregatorV3Interface public immutable SEQUENCER_FEED;
    /// @notice Oldest accepted feed answer, seconds (the feed's heartbeat).
    uint32 public immutable HEARTBEAT;
    /// @notice Seconds after the sequencer comes back up before prices are trusted.
    uint32 public immutable GRACE_PERIOD;
    /// @notice The price feed's decimals, read once at deployment.
    uint8 public immutable FEED_DECIMALS;
    /// @dev 10 ** (16 + FEED_DECIMALS): cents to wei times the feed's scale (_toWei).
    uint256 private immutable WEI_SCALE;
    /// @notice Rules on disputed jobs.
    address public immutable ARBITER;
    /// @notice May pause create and claim (nothing else).
    address public immutable GUARDIAN;

    /// @notice true: create and claim are refused. Nothing else is ever paused.
    bool public paused;

    mapping(bytes32 jobId => Stored) private _jobs;
    /// @dev 0 = never credited; otherwise balance + 1, so that crediting an
    /// account that has withdrawn rewrites a non-zero slot (EIP-2200: 2,900 gas
    /// instead of 20,000). See balanceOf. While it is 0, payouts are pushed (_pay).
    mapping(address account => uint256 balancePlusOne) private _credit;

    // Every job event has the job id and client indexed, and the worker too
    // once there is one (docs/contracts.md lists the signatures and topics).

    /// @notice A job was funded and is open.
    /// @param jobId jobIdOf(client, ref). @param client who pays. @param ref the client's reference.
    /// @param priceCents price in US cents. @param amount wei locked. @param specHash sha256 of the job spec.
    /// @param deadline unix seconds. @param maxRuntime seconds per claim. @param window challenge window, seconds.
    event JobCreated(
        bytes32 indexed jobId,
        address indexed client,
        bytes32 ref,
        uint64 priceCents,
        uint256 amount,
        bytes32 specHash,
        uint32 deadline,
        uint32 maxRuntime,
        uint32 window
    );
    /// @notice A worker claimed a job. @param jobId the job. @param client its client. @param worker the claimer.
    /// @param expiresAt unix seconds after which the claim lapses without a submission.
    event JobClaimed(bytes32 indexed jobId, address indexed client, address indexed worker, uint32 expiresAt);
    /// @notice The worker committed its result. @param jobId the job. @param client its client.
    /// @param worker the worker. @param resultHash sha256 of the result.
    /// @param windowEndsAt unix seconds; the client may dispute until then, release is possible after.
    event JobSubmitted(
        bytes32 indexed jobId, address indexed client, address indexed worker, bytes32 resultHash, uint32 windowEndsAt
    );
    /// @notice A lapsed claim was dropped; the job is open again.
    /// @param jobId the job. @param client its client. @param worker the lapsed claimer (may not claim it again).
    event JobReopened(bytes32 indexed jobId, address indexed client, address indexed worker);
    /// @notice The client disputed the result. @param jobId the job. @param client its client. @param worker the worker.
    event JobDisputed(bytes32 indexed jobId, address indexed client, address indexed worker);
    /// @notice The worker was paid the job's amount (sent, or credited to its balance; see _pay).
    /// @param jobId the job. @param client its client. @param worker the worker. @param amount wei paid.
    /// @param byClient true: accept; false: release after the window.
    event PaymentReleased(
        bytes32 indexed jobId, address indexed client, address indexed worker, uint256 amount, bool byClient
    );
    /// @notice The client was paid back the job's amount after the deadline (sent or credited; see _pay).
    /// @param jobId the job. @param client its client. @param worker the claimer at the time, or address(0).
    /// @param amount wei paid back.
    event JobRefunded(bytes32 indexed jobId, address indexed client, address indexed worker, uint256 amount);
    /// @notice The arbiter split a disputed job. @param jobId the job. @param client its client.
    /// @param worker the worker. @param toWorker wei paid to the worker. @param toClient wei paid to the client
    /// (each sent or credited; see _pay).
    event DisputeResolved(
        bytes32 indexed jobId, address indexed client, address indexed worker, uint256 toWorker, uint256 toClient
    );
    /// @notice create could not send the surplus back; it was credited instead.
    /// @param client the sender. @param amount wei credited.
    event SurplusCredited(address indexed client, uint256 amount);
    /// @notice A balance was paid out. @param account whose balance. @param to recipient. @param amount wei.
    event Withdrawn(address indexed account, address indexed to, uint256 amount);
    /// @notice The guardian paused or resumed create and claim. @param paused the new state.
    event PausedSet(bool paused);
    /// @notice A performUpkeep batch ran. @param caller the keeper.
    /// @param settled items carried out. @param skipped items not due (any more).
    event UpkeepPerformed(address indexed caller, uint256 settled, uint256 skipped);

    error ZeroAddress();
    error BadFeedDecimals(uint8 decimals);
    error Paused();
    error NotGuardian();
    error NotArbiter();
    error NotClient(bytes32 jobId);
    error NotWorker(bytes32 jobId);
    error JobExists(bytes32 jobId);
    error WrongStatus(bytes32 jobId, Status status);
    error ZeroPrice();
    error ZeroHash();
    error BadDeadline(uint256 deadline);
    error BadDuration(uint256 duration);
    error AmountTooLarge(uint256 amount);
    error InsufficientPayment(uint256 required, uint256 sent);
    error InvalidPrice(int256 answer);
    error IncompleteRound(uint80 roundId);
    error StalePrice(uint256 updatedAt);
    error FuturePrice(uint256 updatedAt);
    error SequencerDown();
    error GracePeriodNotOver(uint256 upSince);
    error ClientCannotClaim(bytes32 jobId);
    error LapsedWorker(bytes32 jobId);
    error DeadlinePassed(bytes32 jobId, uint32 deadline);
    error DeadlineNotPassed(bytes32 jobId, uint32 deadline);
    error ClaimLapsed(bytes32 jobId, uint32 expiry);
    error ClaimNotLapsed(bytes32 jobId, uint32 expiry);
    error WindowOpen(bytes32 jobId, uint32 windowEndsAt);
    error WindowClosed(bytes32 jobId, uint32 windowEndsAt);
    error SplitTooLarge(uint256 toWorker, uint256 amount);
    error NothingToWithdraw();
    error TransferFailed();
    error BatchTooLarge(uint256 length);

    /// @notice Fixes the feeds, the arbiter and the guardian for the contract's life.
    /// @param priceFeed Chainlink ETH/USD AggregatorV3Interface (proxy address).
    /// @param heartbeat the feed's heartbeat, seconds; older answers are refused.
    /// @param sequencerFeed Chainlink L2 sequencer uptime feed, or address(0).
    /// @param gracePeriod seconds after the sequencer is back up before prices count.
    /// @param arbiter rules on disputes. @param guardian may pause create and claim.
    constructor(
        AggregatorV3Interface priceFeed,
        uint32 heartbeat,
        AggregatorV3Interface sequencerFeed,
        uint32 gracePeriod,
        address arbiter,
        address guardian
    ) {
        if (address(priceFeed) == address(0) || arbiter == address(0) || guardian == address(0)) {
            revert ZeroAddress();
        }
        if (heartbeat == 0) revert BadDuration(heartbeat);
        uint8 d = priceFeed.decimals();
        if (d > 36) revert BadFeedDecimals(d);
        PRICE_FEED = priceFeed;
        HEARTBEAT = heartbeat;
        SEQUENCER_FEED = sequencerFeed;
        GRACE_PERIOD = gracePeriod;
        FEED_DECIMALS = d;
        WEI_SCALE = 10 ** (16 + uint256(d));
        ARBITER = arbiter;
        GUARDIAN = guardian;
    }

    /// @dev The reentrancy guard of functions that make no external call. Such a
    /// function cannot be re-entered while it runs (it never hands control to
    /// anyone), so it only has to refuse to run inside an external call made by a
    /// nonReentrant function (create's surplus send, withdraw's send, a payout's
    /// push): exactly the protection nonReentrant gives it, for one TLOAD instead
    /// of a TLOAD and two TSTOREs (docs/contracts.md, "Safety rules").
    modifier notEntered() {
        if (_reentrancyGuardEntered()) revert ReentrancyGuardReentrantCall();
        _;
    }

    // ------------------------------------------------------------------ views

    /// @notice The job id of `ref` for `client`: references are namespaced per client.
    /// @param client the job's client. @param ref the client's reference. @return keccak256(abi.encode(client, ref)).
    function jobIdOf(address client, bytes32 ref) public pure returns (bytes32) {
        bytes32 id;
        // keccak256(abi.encode(client, ref)), hashed in the scratch space (no memory allocated).
        // solhint-disable-next-line no-inline-assembly
        assembly ("memory-safe") {
            mstore(0x00, client)
            mstore(0x20, ref)
            id := keccak256(0x00, 0x40)
        }
        return id;
    }

    /// @notice A job's full state (status None: no such job). @param jobId the job.
    /// @return the job as stored (all zero when there is none).
    function getJob(bytes32 jobId) external view returns (Job memory) {
        Job memory job;
        Stored storage j = _jobs[jobId];
        uint256 w = j.state;
        uint256 st = _stage(w);
        if (st == ST_NONE) return job;
        uint256 p = j.parties;
        job.client = _client(p);
        job.amount = _amount(p);
        job.worker = st == ST_OPEN ? address(0) : _addr(w);
        job.status = _status(st);
        job.deadline = _deadline(w);
        job.expiry = st == ST_OPEN || st == ST_REOPENED ? 0 : _expiry(w);
        job.maxRuntime = j.maxRuntime;
        job.window = j.window;
        job.priceCents = j.priceCents;
        job.specHash = j.specHash;
        return job;
    }

    /// @notice Wei an account may withdraw. @param account the account. @return wei.
    function balanceOf(address account) public view returns (uint256) {
        uint256 c = _credit[account];
        return c == 0 ? 0 : c - 1;
    }

    /// @notice Wei that create currently requires for `priceCents` (reverts as create would on a bad feed).
    /// @param priceCents price in US cents. @return wei, rounded up.
    function quote(uint64 priceCents) external view returns (uint256) {
        if (priceCents == 0) revert ZeroPrice();
        return _toWei(priceCents, _price());
    }

    // ------------------------------------------------------------- transitions

    /// @notice Locks a job's price in escrow; the surplus over the quote is sent
    /// back in the same call (or credited to the sender if that send fails).
    /// @param ref the client's own reference; jobId = jobIdOf(msg.sender, ref).
    /// @param priceCents price in US cents.
    /// @param specHash sha256 of the job spec.
    /// @param deadline unix seconds; 0 = now + DEFAULT_DEADLINE.
    /// @param maxRuntime seconds one claim may run before it lapses.
    /// @param window challenge window after submission, seconds (0 = none).
    /// @return jobId jobIdOf(msg.sender, ref).
    function create(
        bytes32 ref,
        uint64 priceCents,
        bytes32 specHash,
        uint32 deadline,
        uint32 maxRuntime,
        uint32 window
    ) external payable nonReentrant returns (bytes32 jobId) {
        if (paused) revert Paused();
        if (priceCents == 0) revert ZeroPrice();
        if (specHash == bytes32(0)) revert ZeroHash();
        if (deadline == 0) deadline = uint32(block.timestamp) + DEFAULT_DEADLINE;
        if (deadline <= block.timestamp || deadline > block.timestamp + MAX_DURATION) revert BadDeadline(deadline);
        if (maxRuntime == 0 || maxRuntime > MAX_DURATION) revert BadDuration(maxRuntime);
        if (window > MAX_DURATION) revert BadDuration(window);
        jobId = jobIdOf(msg.sender, ref);
        Stored storage j = _jobs[jobId];
        if (j.state != 0) revert JobExists(jobId);

        uint256 amount = _toWei(priceCents, _price());
        if (amount > type(uint96).max) revert AmountTooLarge(amount);
        if (msg.value < amount) revert InsufficientPayment(amount, msg.value);

        j.state = _pack(msg.sender, ST_OPEN, deadline, maxRuntime, window);
        j.parties = uint256(uint160(msg.sender)) | (amount << 160); // amount < 2^96 checked above
        j.maxRuntime = maxRuntime;
        j.window = window;
        j.priceCents = priceCents;
        j.specHash = specHash;
        emit JobCreated(jobId, msg.sender, ref, priceCents, amount, specHash, deadline, maxRuntime, window);

        uint256 surplus;
        unchecked {
            surplus = msg.value - amount; // msg.value >= amount checked above
        }
        if (surplus != 0 && !_send(msg.sender, surplus)) {
            _addCredit(msg.sender, surplus);
            emit SurplusCredited(msg.sender, surplus);
        }
    }

    /// @notice Claims an open job for msg.sender (first valid claimer wins). @param jobId the job.
    function claim(bytes32 jobId) external notEntered {
        if (paused) revert Paused();
        Stored storage j = _jobs[jobId];
        uint256 w = j.state;
        uint256 st = _stage(w);
        address client;
        address lapsed;
        if (st == ST_OPEN) client = _addr(w);
        else if (st == ST_REOPENED) (client, lapsed) = (_client(j.parties), _addr(w));
        else revert WrongStatus(jobId, _status(st));
        if (msg.sender == client) revert ClientCannotClaim(jobId);
        if (msg.sender == lapsed) revert LapsedWorker(jobId);
        uint32 deadline = _deadline(w);
        if (block.timestamp >= deadline) revert DeadlinePassed(jobId, deadline);
        // forge-lint: disable-next-line(unsafe-typecast)
        uint32 expiry = uint32(block.timestamp) + _expiry(w); // open: the expiry field holds maxRuntime
        j.state = _pack(msg.sender, ST_CLAIMED, deadline, expiry, _window(w));
        emit JobClaimed(jobId, client, msg.sender, expiry);
    }

    /// @notice The claiming worker commits the sha256 of its result; the challenge window starts.
    /// @param jobId the job. @param resultHash sha256 of the result (non-zero).
    function submit(bytes32 jobId, bytes32 resultHash) external notEntered {
        Stored storage j = _jobs[jobId];
        uint256 w = j.state;
        uint256 st = _stage(w);
        if (st != ST_CLAIMED) revert WrongStatus(jobId, _status(st));
        address worker = _addr(w);
        if (msg.sender != worker) revert NotWorker(jobId);
        if (resultHash == bytes32(0)) revert ZeroHash();
        uint32 expiry = _expiry(w);
        if (block.timestamp > expiry) revert ClaimLapsed(jobId, expiry);
        uint32 deadline = _deadline(w);
        if (block.timestamp > deadline) revert DeadlinePassed(jobId, deadline);
        uint32 window = _window(w);
        // forge-lint: disable-next-line(unsafe-typecast)
        uint32 windowEnd = uint32(block.timestamp) + window;
        j.state = _pack(worker, ST_SUBMITTED, deadline, windowEnd, window);
        emit JobSubmitted(jobId, _client(j.parties), worker, resultHash, windowEnd);
    }

    /// @notice The client accepts a submitted result: the worker is paid at once. @param jobId the job.
    function accept(bytes32 jobId) external nonReentrant {
        Stored storage j = _jobs[jobId];
        uint256 w = j.state;
        uint256 st = _stage(w);
        if (st != ST_SUBMITTED) revert WrongStatus(jobId, _status(st));
        uint256 p = j.parties;
        if (msg.sender != _client(p)) revert NotClient(jobId);
        _release(jobId, j, w, p, true);
    }

    /// @notice The client disputes a submitted result inside the challenge window. @param jobId the job.
    function dispute(bytes32 jobId) external notEntered {
        Stored storage j = _jobs[jobId];
        uint256 w = j.state;
        uint256 st = _stage(w);
        if (st != ST_SUBMITTED) revert WrongStatus(jobId, _status(st));
        if (msg.sender != _client(j.parties)) revert NotClient(jobId);
        uint32 windowEnd = _expiry(w);
        if (block.timestamp > windowEnd) revert WindowClosed(jobId, windowEnd);
        j.state = _withStage(w, ST_DISPUTED);
        emit JobDisputed(jobId, msg.sender, _addr(w));
    }

    /// @notice The arbiter rules on a disputed job: `toWorker` wei to the worker, the rest to the client.
    /// @param jobId the job. @param toWorker wei for the worker, at most the job's amount.
    function resolve(bytes32 jobId, uint256 toWorker) external nonReentrant {
        if (msg.sender != ARBITER) revert NotArbiter();
        Stored storage j = _jobs[jobId];
        uint256 w = j.state;
        uint256 st = _stage(w);
        if (st != ST_DISPUTED) revert WrongStatus(jobId, _status(st));
        uint256 p = j.parties;
        uint256 amount = _amount(p);
        if (toWorker > amount) revert SplitTooLarge(toWorker, amount);
        address client = _client(p);
        address worker = _addr(w);
        j.state = _withStage(w, ST_RESOLVED);
        emit DisputeResolved(jobId, client, worker, toWorker, amount - toWorker);
        if (toWorker != 0) _pay(worker, toWorker);
        if (amount != toWorker) _pay(client, amount - toWorker);
    }

    /// @notice Anyone: pays the worker once the challenge window has passed. @param jobId the job.
    function release(bytes32 jobId) external nonReentrant {
        Stored storage j = _jobs[jobId];
        uint256 w = j.state;
        uint256 st = _stage(w);
        if (st != ST_SUBMITTED) revert WrongStatus(jobId, _status(st));
        uint32 windowEnd = _expiry(w);
        if (block.timestamp <= windowEnd) revert WindowOpen(jobId, windowEnd);
        _release(jobId, j, w, j.parties, false);
    }

    /// @notice Anyone: reopens a job whose claim ran past its max runtime without a submission.
    /// @param jobId the job.
    function reopen(bytes32 jobId) external notEntered {
        Stored storage j = _jobs[jobId];
        uint256 w = j.state;
        uint256 st = _stage(w);
        if (st != ST_CLAIMED) revert WrongStatus(jobId, _status(st));
        uint32 expiry = _expiry(w);
        if (block.timestamp <= expiry) revert ClaimNotLapsed(jobId, expiry);
        uint32 deadline = _deadline(w);
        if (block.timestamp >= deadline) revert DeadlinePassed(jobId, deadline);
        _reopen(jobId, j, w);
    }

    /// @notice Anyone: refunds the client once the deadline has passed without a submission.
    /// @param jobId the job.
    function refund(bytes32 jobId) external nonReentrant {
        Stored storage j = _jobs[jobId];
        uint256 w = j.state;
        uint256 st = _stage(w);
        if (st != ST_OPEN && st != ST_REOPENED && st != ST_CLAIMED) revert WrongStatus(jobId, _status(st));
        uint32 deadline = _deadline(w);
        if (block.timestamp <= deadline) revert DeadlineNotPassed(jobId, deadline);
        _refund(jobId, j, w);
    }

    /// @notice Sends msg.sender's whole balance to msg.sender.
    function withdraw() external nonReentrant {
        _withdraw(payable(msg.sender));
    }

    /// @notice Sends msg.sender's whole balance to `to` (for accounts that cannot receive ETH).
    /// @param to the recipient.
    function withdrawTo(address payable to) external nonReentrant {
        if (to == address(0)) revert ZeroAddress();
        _withdraw(to);
    }

    /// @notice The guardian pauses or resumes create and claim. @param p true to pause.
    function setPaused(bool p) external {
        if (msg.sender != GUARDIAN) revert NotGuardian();
        paused = p;
        emit PausedSet(p);
    }

    // -------------------------------------------------------------- automation

    /// @notice Which of the candidate jobs are due, and for what.
    /// @param checkData abi.encode(bytes32[] candidates), at most MAX_BATCH * 10 of them.
    /// @return upkeepNeeded true when at least one candidate is due.
    /// @return performData abi.encode(Item[]) of the due ones (at most MAX_BATCH).
    function checkUpkeep(bytes calldata checkData)
        external
        view
        override
        returns (bool upkeepNeeded, bytes memory performData)
    {
        bytes32[] memory ids = abi.decode(checkData, (bytes32[]));
        if (ids.length > MAX_BATCH * 10) revert BatchTooLarge(ids.length);
        Item[] memory due = new Item[](ids.length < MAX_BATCH ? ids.length : MAX_BATCH);
        uint256 n;
        for (uint256 i; i < ids.length && n < MAX_BATCH; ++i) {
            Action a = dueAction(ids[i]);
            if (a != Action.None) {
                due[n] = Item(ids[i], a);
                ++n;
            }
        }
        // solhint-disable-next-line no-inline-assembly
        assembly ("memory-safe") {
            // Shorten the array to the n items found (n <= its allocated length).
            mstore(due, n)
        }
        return (n != 0, abi.encode(due));
    }

    /// @notice What a keeper should do with a job now. @param jobId the job. @return the action, or None.
    function dueAction(bytes32 jobId) public view returns (Action) {
        return _due(_jobs[jobId].state);
    }

    /// @notice Anyone: carries out a list of (jobId, action). Each item is
    /// re-validated here; an item that is not due (any more) is skipped, never reverted.
    /// @param performData abi.encode(Item[]), at most MAX_BATCH items.
    function performUpkeep(bytes calldata performData) external override nonReentrant {
        Item[] memory items = abi.decode(performData, (Item[]));
        uint256 len = items.length;
        if (len > MAX_BATCH) revert BatchTooLarge(len);
        uint256 settled;
        for (uint256 i; i < len; ++i) {
            bytes32 id = items[i].jobId;
            Action a = items[i].action;
            Stored storage j = _jobs[id];
            uint256 w = j.state;
            if (a == Action.None || a != _due(w)) continue;
            if (a == Action.Release) _release(id, j, w, j.parties, false);
            else if (a == Action.Refund) _refund(id, j, w);
            else _reopen(id, j, w);
            ++settled;
        }
        emit UpkeepPerformed(msg.sender, settled, len - settled);
    }

    // ----------------------------------------------------------------- internal

    /// @dev Submitted job `j` (state word `w`, parties word `p`): Released, the worker paid.
    function _release(bytes32 jobId, Stored storage j, uint256 w, uint256 p, bool byClient) private {
        address worker = _addr(w);
        uint256 amount = _amount(p);
        j.state = _withStage(w, ST_RELEASED);
        emit PaymentReleased(jobId, _client(p), worker, amount, byClient);
        _pay(worker, amount);
    }

    /// @dev Open, reopened or claimed job `j` (state word `w`): Refunded, the client paid back.
    /// Unclaimed, the address field (the client's copy) is cleared; open, the expiry field
    /// (maxRuntime) is cleared: getJob then shows what it showed before the refund.
    function _refund(bytes32 jobId, Stored storage j, uint256 w) private {
        uint256 st = _stage(w);
        uint256 p = j.parties;
        address client = _client(p);
        uint256 amount = _amount(p);
        address worker = st == ST_OPEN ? address(0) : _addr(w);
        uint32 expiry = st == ST_CLAIMED ? _expiry(w) : 0;
        j.state = _pack(worker, ST_REFUNDED, _deadline(w), expiry, _window(w));
        emit JobRefunded(jobId, client, worker, amount);
        _pay(client, amount);
    }

    /// @dev Claimed job `j` (state word `w`) whose claim lapsed: open again, the
    /// claimer kept as the lapsed one, the expiry field back to maxRuntime.
    function _reopen(bytes32 jobId, Stored storage j, uint256 w) private {
        address worker = _addr(w);
        j.state = _pack(worker, ST_REOPENED, _deadline(w), j.maxRuntime, _window(w));
        emit JobReopened(jobId, _client(j.parties), worker);
    }

    /// @dev dueAction of a job whose state word is `w`.
    function _due(uint256 w) private view returns (Action) {
        uint256 st = _stage(w);
        if (st == ST_SUBMITTED) return block.timestamp > _expiry(w) ? Action.Release : Action.None;
        if (st != ST_OPEN && st != ST_REOPENED && st != ST_CLAIMED) return Action.None;
        uint32 deadline = _deadline(w);
        if (block.timestamp > deadline) return Action.Refund;
        if (st == ST_CLAIMED && block.timestamp > _expiry(w) && block.timestamp < deadline) return Action.Reopen;
        return Action.None;
    }

    /// @dev Pays `amount` (> 0) wei of a settled job to `to`: "push first, credit
    /// on failure" (docs/contracts.md, "Payouts"). Called after the job's state
    /// and event are written (checks-effects-interactions), inside nonReentrant
    /// functions only. The wei are sent at once when `to`'s balance slot has never
    /// been written (0) and `to` has no code (an EOA: the CALL runs no code, so
    /// nothing can re-enter, revert or burn gas); that costs about 9,400 gas
    /// (EIP-2929: 2,600 cold EXTCODESIZE, then a warm CALL 100 + 9,000 for the
    /// value, 2,300 of which, the stipend, comes back unused) instead of the
    /// 22,100 of a new balance slot (EIP-2200). The CALL passes gas 0, so the
    /// callee could have only the 2,300-gas stipend (no SSTORE: EIP-2200's
    /// sentry) and no return data is copied. Otherwise, or if the send fails
    /// (only at call depth 1024 for an account without code), the wei are
    /// credited for withdraw. An account credited once is always credited (a
    /// 5,000-gas rewrite costs less than a send), so its balance never drops
    /// behind its back. A contract (EIP-7702 delegated accounts included) is
    /// credited: a contract that refuses ETH or burns the stipend would make a
    /// keeper's batch pay for a failed send on top of the new slot.
    function _pay(address to, uint256 amount) private {
        uint256 c = _credit[to];
        if (c == 0) {
            bool ok;
            // solhint-disable-next-line no-inline-assembly
            assembly ("memory-safe") {
                if iszero(extcodesize(to)) { ok := call(0, to, amount, 0, 0, 0, 0) }
            }
            if (ok) return;
            c = 1;
        }
        _credit[to] = c + amount;
    }

    function _addCredit(address account, uint256 amount) private {
        uint256 c = _credit[account];
        _credit[account] = (c == 0 ? 1 : c) + amount;
    }

    function _withdraw(address payable to) private {
        uint256 amount = balanceOf(msg.sender);
        if (amount == 0) revert NothingToWithdraw();
        _credit[msg.sender] = 1;
        emit Withdrawn(msg.sender, to, amount);
        if (!_send(to, amount)) revert TransferFailed();
    }

    /// @dev Sends `amount` wei with all gas, copying no return data (no return bomb).
    function _send(address to, uint256 amount) private returns (bool ok) {
        // solhint-disable-next-line no-inline-assembly
        assembly ("memory-safe") {
            ok := call(gas(), to, amount, 0, 0, 0, 0)
        }
    }

    /// @dev Latest ETH/USD answer after every check (docs/contracts.md, "Price feed").
    function _price() private view returns (uint256) {
        if (address(SEQUENCER_FEED) != address(0)) {
            (, int256 up, uint256 startedAt,,) = SEQUENCER_FEED.latestRoundData();
            // Chainlink L2 sequencer uptime feed: answer 0 = up, 1 = down; startedAt = when it last changed.
            if (up != 0 || startedAt == 0) revert SequencerDown();
            if (block.timestamp - startedAt <= GRACE_PERIOD) revert GracePeriodNotOver(startedAt);
        }
        (uint80 roundId, int256 answer,, uint256 updatedAt, uint80 answeredInRound) = PRICE_FEED.latestRoundData();
        if (answer <= 0) revert InvalidPrice(answer);
        if (updatedAt == 0 || answeredInRound < roundId) revert IncompleteRound(roundId);
        if (updatedAt > block.timestamp) revert FuturePrice(updatedAt);
        unchecked {
            // updatedAt <= block.timestamp checked above
            if (block.timestamp - updatedAt > HEARTBEAT) revert StalePrice(updatedAt);
        }
        // forge-lint: disable-next-line(unsafe-typecast)
        return uint256(answer); // answer > 0 checked above
    }

    /// @dev wei = ceil(cents * 10^(18 + d - 2) / answer), d = feed decimals: rounded up, in the escrow's favour.
    function _toWei(uint64 priceCents, uint256 answer) private view returns (uint256) {
        // No overflow: cents < 2^64 and WEI_SCALE <= 10^52 < 2^173, so num < 2^237;
        // 0 < answer < 2^255 (an int256 > 0), so num + answer - 1 < 2^256.
        unchecked {
            uint256 num = uint256(priceCents) * WEI_SCALE;
            return (num + answer - 1) / answer;
        }
    }

    // ------------------------------------------------------- state word codec

    /// @dev Stored.state from its fields (layout in Stored); `window` <= MAX_DURATION < 2^28.
    function _pack(address a, uint256 stage, uint32 deadline, uint32 expiry, uint32 window)
        private
        pure
        returns (uint256)
    {
        return uint256(uint160(a)) | (stage << OFF_STAGE) | (uint256(deadline) << OFF_DEADLINE)
            | (uint256(expiry) << OFF_EXPIRY) | (uint256(window) << OFF_WINDOW);
    }

    /// @dev `w` with its stage replaced by `stage`.
    function _withStage(uint256 w, uint256 stage) private pure returns (uint256) {
        return (w & ~(uint256(0xf) << OFF_STAGE)) | (stage << OFF_STAGE);
    }

    function _stage(uint256 w) private pure returns (uint256) {
        return (w >> OFF_STAGE) & 0xf;
    }

    function _addr(uint256 w) private pure returns (address) {
        // forge-lint: disable-next-line(unsafe-typecast)
        return address(uint160(w)); // the low 160 bits
    }

    function _deadline(uint256 w) private pure returns (uint32) {
        // forge-lint: disable-next-line(unsafe-typecast)
        return uint32(w >> OFF_DEADLINE); // 32 bits
    }

    function _expiry(uint256 w) private pure returns (uint32) {
        // forge-lint: disable-next-line(unsafe-typecast)
        return uint32(w >> OFF_EXPIRY); // 32 bits
    }

    function _window(uint256 w) private pure returns (uint32) {
        // forge-lint: disable-next-line(unsafe-typecast)
        return uint32(w >> OFF_WINDOW); // the top 28 bits
    }

    /// @dev The public status of a stage: ST_REOPENED is Open; the others are equal.
    function _status(uint256 stage) private pure returns (Status) {
        return Status(stage == ST_REOPENED ? ST_OPEN : stage);
    }

    function _client(uint256 p) private pure returns (address) {
        // forge-lint: disable-next-line(unsafe-typecast)
        return address(uint160(p)); // the low 160 bits
    }

    function _amount(uint256 p) private pure returns (uint96) {
        // forge-lint: disable-next-line(unsafe-typecast)
        return uint96(p >> 160); // the top 96 bits
    }
}
