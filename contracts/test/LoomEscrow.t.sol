// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {AggregatorV3Interface} from "@chainlink/contracts/src/v0.8/shared/interfaces/AggregatorV3Interface.sol";
import {MockV3Aggregator} from "@chainlink/contracts/src/v0.8/tests/MockV3Aggregator.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {LoomEscrow} from "../src/LoomEscrow.sol";
import {Base, ScriptedFeed, Refuser, GasHog, Reenterer} from "./Base.sol";

/// @dev One unit test per function and per revert of LoomEscrow.
contract LoomEscrowTest is Base {
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
    event JobClaimed(bytes32 indexed jobId, address indexed client, address indexed worker, uint32 expiresAt);
    event JobSubmitted(
        bytes32 indexed jobId, address indexed client, address indexed worker, bytes32 resultHash, uint32 windowEndsAt
    );
    event JobReopened(bytes32 indexed jobId, address indexed client, address indexed worker);
    event JobDisputed(bytes32 indexed jobId, address indexed client, address indexed worker);
    event PaymentReleased(
        bytes32 indexed jobId, address indexed client, address indexed worker, uint256 amount, bool byClient
    );
    event JobRefunded(bytes32 indexed jobId, address indexed client, address indexed worker, uint256 amount);
    event DisputeResolved(
        bytes32 indexed jobId, address indexed client, address indexed worker, uint256 toWorker, uint256 toClient
    );
    event SurplusCredited(address indexed client, uint256 amount);
    event Withdrawn(address indexed account, address indexed to, uint256 amount);
    event PausedSet(bool paused);
    event UpkeepPerformed(address indexed caller, uint256 settled, uint256 skipped);

    function setUp() public {
        _setUpBase();
    }

    function _status(bytes32 id) internal view returns (LoomEscrow.Status) {
        return esc.getJob(id).status;
    }

    function _wrong(bytes32 id, LoomEscrow.Status s) internal {
        VM.expectRevert(abi.encodeWithSelector(LoomEscrow.WrongStatus.selector, id, s));
    }

    // ------------------------------------------------------------ constructor

    function test_constructor_setsConfig() public view {
        _ok(address(esc.PRICE_FEED()) == address(feed), "feed");
        _ok(address(esc.SEQUENCER_FEED()) == address(0), "seq");
        _eq(esc.HEARTBEAT(), HEARTBEAT, "heartbeat");
        _eq(esc.FEED_DECIMALS(), 8, "decimals");
        _ok(esc.ARBITER() == ARBITER && esc.GUARDIAN() == GUARDIAN, "roles");
        _eq(esc.DEFAULT_DEADLINE(), 7 days, "default deadline");
        _eq(esc.MAX_BATCH(), 100, "batch");
        _ok(!esc.paused(), "paused");
    }

    function test_constructor_revertsZeroAddress() public {
        AggregatorV3Interface none = AggregatorV3Interface(address(0));
        VM.expectRevert(LoomEscrow.ZeroAddress.selector);
        new LoomEscrow(none, HEARTBEAT, none, 0, ARBITER, GUARDIAN);
        VM.expectRevert(LoomEscrow.ZeroAddress.selector);
        new LoomEscrow(feed, HEARTBEAT, none, 0, address(0), GUARDIAN);
        VM.expectRevert(LoomEscrow.ZeroAddress.selector);
        new LoomEscrow(feed, HEARTBEAT, none, 0, ARBITER, address(0));
    }

    function test_constructor_revertsZeroHeartbeat() public {
        VM.expectRevert(abi.encodeWithSelector(LoomEscrow.BadDuration.selector, 0));
        new LoomEscrow(feed, 0, AggregatorV3Interface(address(0)), 0, ARBITER, GUARDIAN);
    }

    function test_constructor_revertsBadDecimals() public {
        ScriptedFeed f = new ScriptedFeed(37);
        VM.expectRevert(abi.encodeWithSelector(LoomEscrow.BadFeedDecimals.selector, 37));
        new LoomEscrow(f, HEARTBEAT, AggregatorV3Interface(address(0)), 0, ARBITER, GUARDIAN);
    }

    // ------------------------------------------------------------------ views

    function test_jobIdOf_isNamespacedPerClient() public view {
        _ok(esc.jobIdOf(CLIENT, REF) == keccak256(abi.encode(CLIENT, REF)), "formula");
        _ok(esc.jobIdOf(CLIENT, REF) != esc.jobIdOf(CLIENT2, REF), "collision");
    }

    function test_quote_roundsUp() public view {
        _eq(esc.quote(CENTS), WEI, "12.34 USD");
        _eq(esc.quote(300000), 1 ether, "3000 USD is exactly 1 ETH");
        _eq(esc.quote(1), 3333333333334, "1 cent");
    }

    function test_quote_revertsZeroPrice() public {
        VM.expectRevert(LoomEscrow.ZeroPrice.selector);
        esc.quote(0);
    }

    function test_getJob_noneForUnknown() public view {
        LoomEscrow.Job memory j = esc.getJob(bytes32("nope"));
        _ok(j.status == LoomEscrow.Status.None && j.client == address(0) && j.amount == 0, "empty");
    }

    function test_balanceOf_zeroForUnknown() public view {
        _eq(esc.balanceOf(ANYONE), 0, "balance");
    }

    // ----------------------------------------------------------------- create

    function test_create_storesJobAndEmits() public {
        bytes32 id = esc.jobIdOf(CLIENT, REF);
        VM.expectEmit(true, true, true, true, address(esc));
        emit JobCreated(id, CLIENT, REF, CENTS, WEI, SPEC, T0 + 7 days, 1 hours, 1 days);
        _eq(uint256(_create(CLIENT, REF)), uint256(id), "id");
        LoomEscrow.Job memory j = esc.getJob(id);
        _ok(j.client == CLIENT && j.worker == address(0), "parties");
        _eq(j.amount, WEI, "amount");
        _ok(j.status == LoomEscrow.Status.Open, "status");
        _eq(j.deadline, T0 + 7 days, "default deadline");
        _eq(j.maxRuntime, 1 hours, "runtime");
        _eq(j.window, 1 days, "window");
        _eq(j.priceCents, CENTS, "cents");
        _ok(j.specHash == SPEC, "spec hash");
        _eq(address(esc).balance, WEI, "escrow balance");
    }

    function test_create_explicitDeadline() public {
        VM.prank(CLIENT);
        bytes32 id = esc.create{value: WEI}(REF, CENTS, SPEC, T0 + 100, 50, 0);
        _eq(esc.getJob(id).deadline, T0 + 100, "deadline");
        _eq(esc.getJob(id).window, 0, "window");
    }

    function test_create_returnsSurplusInSameCall() public {
        uint256 before = CLIENT.balance;
        VM.prank(CLIENT);
        esc.create{value: 1 ether}(REF, CENTS, SPEC, 0, 1 hours, 1 days);
        _eq(CLIENT.balance, before - WEI, "client paid exactly the quote");
        _eq(address(esc).balance, WEI, "escrow holds the quote");
        _eq(esc.balanceOf(CLIENT), 0, "nothing credited");
    }

    function test_create_creditsSurplusWhenRefused() public {
        Refuser r = new Refuser(esc);
        VM.deal(address(r), 1 ether);
        VM.expectEmit(true, true, true, true, address(esc));
        emit SurplusCredited(address(r), 1 ether - WEI);
        r.create(REF, CENTS, 1 ether);
        _eq(esc.balanceOf(address(r)), 1 ether - WEI, "credited");
        _eq(address(esc).balance, 1 ether, "escrow holds both");
        // It cannot receive, but it can withdraw elsewhere.
        r.withdrawTo(payable(ANYONE));
        _eq(ANYONE.balance, 1 ether - WEI, "withdrawn to");
    }

    function test_create_revertsPaused() public {
        VM.prank(GUARDIAN);
        esc.setPaused(true);
        VM.expectRevert(LoomEscrow.Paused.selector);
        _create(CLIENT, REF);
    }

    function test_create_revertsZeroPrice() public {
        VM.prank(CLIENT);
        VM.expectRevert(LoomEscrow.ZeroPrice.selector);
        esc.create{value: WEI}(REF, 0, SPEC, 0, 1, 1);
    }

    function test_create_revertsZeroSpecHash() public {
        VM.prank(CLIENT);
        VM.expectRevert(LoomEscrow.ZeroHash.selector);
        esc.create{value: WEI}(REF, CENTS, bytes32(0), 0, 1, 1);
    }

    function test_create_revertsBadDeadline() public {
        VM.startPrank(CLIENT);
        VM.expectRevert(abi.encodeWithSelector(LoomEscrow.BadDeadline.selector, T0));
        esc.create{value: WEI}(REF, CENTS, SPEC, T0, 1, 1);
        uint32 far = T0 + 365 days + 1;
        VM.expectRevert(abi.encodeWithSelector(LoomEscrow.BadDeadline.selector, far));
        esc.create{value: WEI}(REF, CENTS, SPEC, far, 1, 1);
        VM.stopPrank();
    }

    function test_create_revertsBadDurations() public {
        VM.startPrank(CLIENT);
        VM.expectRevert(abi.encodeWithSelector(LoomEscrow.BadDuration.selector, 0));
        esc.create{value: WEI}(REF, CENTS, SPEC, 0, 0, 1);
        VM.expectRevert(abi.encodeWithSelector(LoomEscrow.BadDuration.selector, 365 days + 1));
        esc.create{value: WEI}(REF, CENTS, SPEC, 0, 365 days + 1, 1);
        VM.expectRevert(abi.encodeWithSelector(LoomEscrow.BadDuration.selector, 365 days + 1));
        esc.create{value: WEI}(REF, CENTS, SPEC, 0, 1, 365 days + 1);
        VM.stopPrank();
    }

    function test_create_revertsJobExists() public {
        bytes32 id = _create(CLIENT, REF);
        VM.prank(CLIENT);
        VM.expectRevert(abi.encodeWithSelector(LoomEscrow.JobExists.selector, id));
        esc.create{value: WEI}(REF, CENTS, SPEC, 0, 1, 1);
    }

    function test_create_refsDoNotCollideBetweenClients() public {
        bytes32 a = _create(CLIENT, REF);
        bytes32 b = _create(CLIENT2, REF); // same ref, another client: its own job
        _ok(a != b, "distinct ids");
        _ok(esc.getJob(a).client == CLIENT && esc.getJob(b).client == CLIENT2, "owners");
    }

    /// Someone who sees a client's ref first cannot take that client's job id.
    function test_create_cannotSquatAnotherClientsRef() public {
        bytes32 squatted = _create(CLIENT2, REF); // the squatter's own job
        bytes32 id = _create(CLIENT, REF); // the client's job is unaffected
        _ok(id == esc.jobIdOf(CLIENT, REF) && id != squatted, "client keeps its id");
        _ok(esc.getJob(id).client == CLIENT, "client owns it");
    }

    function test_create_revertsInsufficientPayment() public {
        VM.prank(CLIENT);
        VM.expectRevert(abi.encodeWithSelector(LoomEscrow.InsufficientPayment.selector, WEI, WEI - 1));
        esc.create{value: WEI - 1}(REF, CENTS, SPEC, 0, 1, 1);
    }

    function test_create_revertsAmountTooLarge() public {
        feed.updateAnswer(1); // $0.00000001 per ETH
        uint256 want = uint256(type(uint64).max) * 1e24;
        VM.prank(CLIENT);
        VM.expectRevert(abi.encodeWithSelector(LoomEscrow.AmountTooLarge.selector, want));
        esc.create(REF, type(uint64).max, SPEC, 0, 1, 1);
    }

    // ------------------------------------------------------------- price feed

    function test_price_revertsNonPositive() public {
        feed.updateAnswer(0);
        VM.expectRevert(abi.encodeWithSelector(LoomEscrow.InvalidPrice.selector, int256(0)));
        esc.quote(CENTS);
        feed.updateAnswer(-1);
        VM.expectRevert(abi.encodeWithSelector(LoomEscrow.InvalidPrice.selector, int256(-1)));
        _create(CLIENT, REF);
    }

    function test_price_revertsStale() public {
        VM.warp(T0 + HEARTBEAT);
        _eq(esc.quote(CENTS), WEI, "exactly heartbeat old is fine");
        VM.warp(T0 + HEARTBEAT + 1);
        VM.expectRevert(abi.encodeWithSelector(LoomEscrow.StalePrice.selector, T0));
        _create(CLIENT, REF);
    }

    function test_price_revertsFuture() public {
        feed.updateRoundData(2, ETH_USD, T0 + 1, T0 + 1);
        VM.expectRevert(abi.encodeWithSelector(LoomEscrow.FuturePrice.selector, T0 + 1));
        _create(CLIENT, REF);
    }

    function test_price_revertsIncompleteRound() public {
        feed.updateRoundData(5, ETH_USD, 0, T0);
        VM.expectRevert(abi.encodeWithSelector(LoomEscrow.IncompleteRound.selector, uint80(5)));
        _create(CLIENT, REF);
        ScriptedFeed f = new ScriptedFeed(8);
        LoomEscrow e = new LoomEscrow(f, HEARTBEAT, AggregatorV3Interface(address(0)), 0, ARBITER, GUARDIAN);
        f.set(7, ETH_USD, T0, T0, 6); // answered in an earlier round
        VM.expectRevert(abi.encodeWithSelector(LoomEscrow.IncompleteRound.selector, uint80(7)));
        e.quote(CENTS);
    }

    function _withSequencer(int256 up, uint256 since) internal returns (LoomEscrow e) {
        MockV3Aggregator seq = new MockV3Aggregator(0, up);
        seq.updateRoundData(1, up, T0, since);
        e = new LoomEscrow(feed, HEARTBEAT, seq, 3600, ARBITER, GUARDIAN);
    }

    function test_sequencer_upAfterGraceIsAccepted() public {
        LoomEscrow e = _withSequencer(0, T0 - 3601);
        _eq(e.quote(CENTS), WEI, "quote");
        VM.prank(CLIENT);
        e.create{value: WEI}(REF, CENTS, SPEC, 0, 1, 1);
    }

    function test_sequencer_revertsDown() public {
        LoomEscrow e = _withSequencer(1, T0 - 10 days);
        VM.expectRevert(LoomEscrow.SequencerDown.selector);
        e.quote(CENTS);
        LoomEscrow e2 = _withSequencer(0, 0); // never initialised
        VM.prank(CLIENT);
        VM.expectRevert(LoomEscrow.SequencerDown.selector);
        e2.create{value: WEI}(REF, CENTS, SPEC, 0, 1, 1);
    }

    function test_sequencer_revertsInGracePeriod() public {
        LoomEscrow e = _withSequencer(0, T0 - 3600);
        VM.expectRevert(abi.encodeWithSelector(LoomEscrow.GracePeriodNotOver.selector, T0 - 3600));
        e.quote(CENTS);
    }

    // ------------------------------------------------------------------ claim

    function test_claim_setsWorkerAndEmits() public {
        bytes32 id = _create(CLIENT, REF);
        VM.expectEmit(true, true, true, true, address(esc));
        emit JobClaimed(id, CLIENT, WORKER, T0 + 1 hours);
        VM.prank(WORKER);
        esc.claim(id);
        LoomEscrow.Job memory j = esc.getJob(id);
        _ok(j.worker == WORKER && j.status == LoomEscrow.Status.Claimed, "claimed");
        _eq(j.expiry, T0 + 1 hours, "expiry");
    }

    function test_claim_firstClaimerWins() public {
        bytes32 id = _claimed(CLIENT, REF, WORKER);
        _wrong(id, LoomEscrow.Status.Claimed);
        VM.prank(WORKER2);
        esc.claim(id);
        _ok(esc.getJob(id).worker == WORKER, "first stays");
    }

    function test_claim_revertsUnknownJob() public {
        _wrong(bytes32("x"), LoomEscrow.Status.None);
        VM.prank(WORKER);
        esc.claim(bytes32("x"));
    }

    function test_claim_revertsPaused() public {
        bytes32 id = _create(CLIENT, REF);
        VM.prank(GUARDIAN);
        esc.setPaused(true);
        VM.prank(WORKER);
        VM.expectRevert(LoomEscrow.Paused.selector);
        esc.claim(id);
    }

    function test_claim_revertsClient() public {
        bytes32 id = _create(CLIENT, REF);
        VM.prank(CLIENT);
        VM.expectRevert(abi.encodeWithSelector(LoomEscrow.ClientCannotClaim.selector, id));
        esc.claim(id);
    }

    function test_claim_revertsDeadlinePassed() public {
        bytes32 id = _create(CLIENT, REF);
        VM.warp(T0 + 7 days);
        VM.prank(WORKER);
        VM.expectRevert(abi.encodeWithSelector(LoomEscrow.DeadlinePassed.selector, id, T0 + 7 days));
        esc.claim(id);
    }

    function test_claim_revertsLapsedWorker() public {
        bytes32 id = _claimed(CLIENT, REF, WORKER);
        VM.warp(T0 + 1 hours + 1);
        esc.reopen(id);
        VM.prank(WORKER);
        VM.expectRevert(abi.encodeWithSelector(LoomEscrow.LapsedWorker.selector, id));
        esc.claim(id);
        VM.prank(WORKER2);
        esc.claim(id); // someone else may
        _ok(esc.getJob(id).worker == WORKER2, "new worker");
    }

    // ----------------------------------------------------------------- submit

    function test_submit_storesResultAndEmits() public {
        bytes32 id = _claimed(CLIENT, REF, WORKER);
        VM.warp(T0 + 100);
        VM.expectEmit(true, true, true, true, address(esc));
        emit JobSubmitted(id, CLIENT, WORKER, RESULT, T0 + 100 + 1 days);
        VM.prank(WORKER);
        esc.submit(id, RESULT);
        LoomEscrow.Job memory j = esc.getJob(id);
        _ok(j.status == LoomEscrow.Status.Submitted, "submitted");
        _eq(j.expiry, T0 + 100 + 1 days, "window end");
    }

    function test_submit_revertsNotWorker() public {
        bytes32 id = _claimed(CLIENT, REF, WORKER);
        VM.prank(WORKER2);
        VM.expectRevert(abi.encodeWithSelector(LoomEscrow.NotWorker.selector, id));
        esc.submit(id, RESULT);
        VM.prank(CLIENT);
        VM.expectRevert(abi.encodeWithSelector(LoomEscrow.NotWorker.selector, id));
        esc.submit(id, RESULT);
    }

    function test_submit_revertsWrongStatus() public {
        bytes32 id = _create(CLIENT, REF);
        _wrong(id, LoomEscrow.Status.Open);
        VM.prank(WORKER);
        esc.submit(id, RESULT);
    }

    function test_submit_revertsZeroHash() public {
        bytes32 id = _claimed(CLIENT, REF, WORKER);
        VM.prank(WORKER);
        VM.expectRevert(LoomEscrow.ZeroHash.selector);
        esc.submit(id, bytes32(0));
    }

    function test_submit_revertsClaimLapsed() public {
        bytes32 id = _claimed(CLIENT, REF, WORKER);
        VM.warp(T0 + 1 hours + 1);
        VM.prank(WORKER);
        VM.expectRevert(abi.encodeWithSelector(LoomEscrow.ClaimLapsed.selector, id, T0 + 1 hours));
        esc.submit(id, RESULT);
    }

    function test_submit_revertsDeadlinePassed() public {
        VM.prank(CLIENT);
        bytes32 id = esc.create{value: WEI}(REF, CENTS, SPEC, T0 + 10, 1 hours, 1);
        VM.prank(WORKER);
        esc.claim(id);
        VM.warp(T0 + 11);
        VM.prank(WORKER);
        VM.expectRevert(abi.encodeWithSelector(LoomEscrow.DeadlinePassed.selector, id, T0 + 10));
        esc.submit(id, RESULT);
    }

    // ----------------------------------------------------------------- accept

    function test_accept_paysWorkerAtOnce() public {
        bytes32 id = _submitted(CLIENT, REF, WORKER);
        VM.expectEmit(true, true, true, true, address(esc));
        emit PaymentReleased(id, CLIENT, WORKER, WEI, true);
        VM.prank(CLIENT);
        esc.accept(id);
        _ok(_status(id) == LoomEscrow.Status.Released, "released");
        _eq(WORKER.balance, WEI, "worker paid to its wallet");
        _eq(esc.balanceOf(WORKER), 0, "nothing credited");
        _eq(_slot(WORKER), 0, "balance slot never written");
        _eq(address(esc).balance, 0, "escrow empty");
    }

    function test_accept_revertsNotClient() public {
        bytes32 id = _submitted(CLIENT, REF, WORKER);
        VM.prank(WORKER);
        VM.expectRevert(abi.encodeWithSelector(LoomEscrow.NotClient.selector, id));
        esc.accept(id);
        VM.prank(CLIENT2);
        VM.expectRevert(abi.encodeWithSelector(LoomEscrow.NotClient.selector, id));
        esc.accept(id);
    }

    function test_accept_revertsWrongStatus() public {
        bytes32 id = _claimed(CLIENT, REF, WORKER);
        _wrong(id, LoomEscrow.Status.Claimed);
        VM.prank(CLIENT);
        esc.accept(id);
    }

    // ---------------------------------------------------------------- dispute

    function test_dispute_insideWindow() public {
        bytes32 id = _submitted(CLIENT, REF, WORKER);
        VM.warp(T0 + 1 days);
        VM.expectEmit(true, true, true, true, address(esc));
        emit JobDisputed(id, CLIENT, WORKER);
        VM.prank(CLIENT);
        esc.dispute(id);
        _ok(_status(id) == LoomEscrow.Status.Disputed, "disputed");
        VM.warp(T0 + 30 days);
        VM.expectRevert(abi.encodeWithSelector(LoomEscrow.WrongStatus.selector, id, LoomEscrow.Status.Disputed));
        esc.release(id); // a disputed job waits for the arbiter
    }

    function test_dispute_revertsNotClient() public {
        bytes32 id = _submitted(CLIENT, REF, WORKER);
        VM.prank(ANYONE);
        VM.expectRevert(abi.encodeWithSelector(LoomEscrow.NotClient.selector, id));
        esc.dispute(id);
    }

    function test_dispute_revertsWindowClosed() public {
        bytes32 id = _submitted(CLIENT, REF, WORKER);
        VM.warp(T0 + 1 days + 1);
        VM.prank(CLIENT);
        VM.expectRevert(abi.encodeWithSelector(LoomEscrow.WindowClosed.selector, id, T0 + 1 days));
        esc.dispute(id);
    }

    function test_dispute_revertsWrongStatus() public {
        bytes32 id = _create(CLIENT, REF);
        _wrong(id, LoomEscrow.Status.Open);
        VM.prank(CLIENT);
        esc.dispute(id);
    }

    // ---------------------------------------------------------------- resolve

    function _disputed() internal returns (bytes32 id) {
        id = _submitted(CLIENT, REF, WORKER);
        VM.prank(CLIENT);
        esc.dispute(id);
    }

    function test_resolve_payWorker() public {
        bytes32 id = _disputed();
        VM.expectEmit(true, true, true, true, address(esc));
        emit DisputeResolved(id, CLIENT, WORKER, WEI, 0);
        VM.prank(ARBITER);
        esc.resolve(id, WEI);
        _eq(WORKER.balance, WEI, "worker");
        _eq(CLIENT.balance, 1000 ether - WEI, "client");
        _ok(_status(id) == LoomEscrow.Status.Resolved, "resolved");
    }

    function test_resolve_refundClient() public {
        bytes32 id = _disputed();
        VM.prank(ARBITER);
        esc.resolve(id, 0);
        _eq(WORKER.balance, 0, "worker");
        _eq(CLIENT.balance, 1000 ether, "client");
    }

    function test_resolve_split() public {
        bytes32 id = _disputed();
        VM.prank(ARBITER);
        esc.resolve(id, 1000);
        _eq(WORKER.balance, 1000, "worker");
        _eq(CLIENT.balance, 1000 ether - 1000, "client");
        _eq(address(esc).balance, 0, "escrow empty");
    }

    function test_resolve_revertsNotArbiter() public {
        bytes32 id = _disputed();
        VM.prank(CLIENT);
        VM.expectRevert(LoomEscrow.NotArbiter.selector);
        esc.resolve(id, 0);
    }

    function test_resolve_revertsWrongStatus() public {
        bytes32 id = _submitted(CLIENT, REF, WORKER);
        _wrong(id, LoomEscrow.Status.Submitted);
        VM.prank(ARBITER);
        esc.resolve(id, 0);
    }

    function test_resolve_revertsSplitTooLarge() public {
        bytes32 id = _disputed();
        VM.prank(ARBITER);
        VM.expectRevert(abi.encodeWithSelector(LoomEscrow.SplitTooLarge.selector, WEI + 1, WEI));
        esc.resolve(id, WEI + 1);
    }

    // ---------------------------------------------------------------- release

    function test_release_byAnyoneAfterWindow() public {
        bytes32 id = _submitted(CLIENT, REF, WORKER);
        VM.warp(T0 + 1 days + 1);
        VM.expectEmit(true, true, true, true, address(esc));
        emit PaymentReleased(id, CLIENT, WORKER, WEI, false);
        VM.prank(ANYONE);
        esc.release(id);
        _eq(WORKER.balance, WEI, "worker");
        _wrong(id, LoomEscrow.Status.Released);
        esc.release(id); // never twice
    }

    function test_release_revertsWindowOpen() public {
        bytes32 id = _submitted(CLIENT, REF, WORKER);
        VM.warp(T0 + 1 days);
        VM.expectRevert(abi.encodeWithSelector(LoomEscrow.WindowOpen.selector, id, T0 + 1 days));
        esc.release(id);
    }

    // ----------------------------------------------------------------- reopen

    function test_reopen_afterLapse() public {
        bytes32 id = _claimed(CLIENT, REF, WORKER);
        VM.warp(T0 + 1 hours + 1);
        VM.expectEmit(true, true, true, true, address(esc));
        emit JobReopened(id, CLIENT, WORKER);
        VM.prank(ANYONE);
        esc.reopen(id);
        LoomEscrow.Job memory j = esc.getJob(id);
        _ok(j.status == LoomEscrow.Status.Open && j.expiry == 0, "open again");
    }

    /// A reopened job keeps every rule and field of an open one (storage splits
    /// Open into "never claimed" and "reopened"; getJob and claim must not tell).
    function test_reopen_thenClaimKeepsRulesAndFields() public {
        bytes32 id = _claimed(CLIENT, REF, WORKER);
        VM.warp(T0 + 1 hours + 1);
        esc.reopen(id);
        LoomEscrow.Job memory j = esc.getJob(id);
        _ok(j.client == CLIENT && j.worker == WORKER && j.amount == WEI, "parties kept");
        _eq(j.deadline, T0 + 7 days, "deadline");
        _eq(j.maxRuntime, 1 hours, "maxRuntime");
        _eq(j.window, 1 days, "window");
        _eq(j.priceCents, CENTS, "price");
        _ok(j.specHash == SPEC, "spec");
        VM.prank(CLIENT);
        VM.expectRevert(abi.encodeWithSelector(LoomEscrow.ClientCannotClaim.selector, id));
        esc.claim(id);
        VM.warp(T0 + 2 hours);
        VM.expectEmit(true, true, true, true, address(esc));
        emit JobClaimed(id, CLIENT, WORKER2, T0 + 3 hours); // now + maxRuntime again
        VM.prank(WORKER2);
        esc.claim(id);
        j = esc.getJob(id);
        _ok(j.worker == WORKER2 && j.status == LoomEscrow.Status.Claimed, "claimed again");
        _eq(j.expiry, T0 + 3 hours, "expiry");
        VM.prank(WORKER2);
        esc.submit(id, RESULT);
        _eq(esc.getJob(id).expiry, T0 + 2 hours + 1 days, "window end");
    }

    /// Refunds leave getJob as it was: worker 0 and expiry 0 when never claimed,
    /// the lapsed claimer (also in the event) and expiry 0 when reopened.
    function test_refund_keepsGetJobFields() public {
        bytes32 a = _create(CLIENT, REF);
        bytes32 b = _claimed(CLIENT, bytes32("b"), WORKER);
        VM.warp(T0 + 1 hours + 1);
        esc.reopen(b);
        VM.warp(T0 + 7 days + 1);
        esc.refund(a);
        VM.expectEmit(true, true, true, true, address(esc));
        emit JobRefunded(b, CLIENT, WORKER, WEI);
        esc.refund(b);
        LoomEscrow.Job memory ja = esc.getJob(a);
        LoomEscrow.Job memory jb = esc.getJob(b);
        _ok(ja.status == LoomEscrow.Status.Refunded && jb.status == LoomEscrow.Status.Refunded, "refunded");
        _ok(ja.client == CLIENT && ja.worker == address(0) && ja.expiry == 0 && ja.amount == WEI, "a");
        _ok(jb.client == CLIENT && jb.worker == WORKER && jb.expiry == 0 && jb.amount == WEI, "b");
        _eq(ja.maxRuntime, 1 hours, "a maxRuntime");
        _eq(ja.deadline, T0 + 7 days, "a deadline");
    }

    function test_reopen_revertsNotLapsed() public {
        bytes32 id = _claimed(CLIENT, REF, WORKER);
        VM.warp(T0 + 1 hours);
        VM.expectRevert(abi.encodeWithSelector(LoomEscrow.ClaimNotLapsed.selector, id, T0 + 1 hours));
        esc.reopen(id);
    }

    function test_reopen_revertsWrongStatus() public {
        bytes32 id = _submitted(CLIENT, REF, WORKER);
        VM.warp(T0 + 2 hours);
        _wrong(id, LoomEscrow.Status.Submitted);
        esc.reopen(id);
    }

    function test_reopen_revertsDeadlinePassed() public {
        bytes32 id = _claimed(CLIENT, REF, WORKER);
        VM.warp(T0 + 7 days);
        VM.expectRevert(abi.encodeWithSelector(LoomEscrow.DeadlinePassed.selector, id, T0 + 7 days));
        esc.reopen(id);
    }

    // ----------------------------------------------------------------- refund

    function test_refund_openAfterDeadline() public {
        bytes32 id = _create(CLIENT, REF);
        VM.warp(T0 + 7 days + 1);
        VM.expectEmit(true, true, true, true, address(esc));
        emit JobRefunded(id, CLIENT, address(0), WEI);
        VM.prank(ANYONE);
        esc.refund(id);
        _eq(CLIENT.balance, 1000 ether, "client paid back to its wallet");
        _eq(_slot(CLIENT), 0, "balance slot never written");
        _ok(_status(id) == LoomEscrow.Status.Refunded, "refunded");
    }

    function test_refund_claimedAfterDeadline() public {
        bytes32 id = _claimed(CLIENT, REF, WORKER);
        VM.warp(T0 + 7 days + 1);
        esc.refund(id);
        _eq(CLIENT.balance, 1000 ether, "client paid back to its wallet");
        _eq(WORKER.balance, 0, "worker");
        _eq(esc.balanceOf(CLIENT), 0, "client not credited");
    }

    function test_refund_revertsBeforeDeadline() public {
        bytes32 id = _create(CLIENT, REF);
        VM.warp(T0 + 7 days);
        VM.expectRevert(abi.encodeWithSelector(LoomEscrow.DeadlineNotPassed.selector, id, T0 + 7 days));
        esc.refund(id);
    }

    function test_refund_revertsAfterSubmission() public {
        bytes32 id = _submitted(CLIENT, REF, WORKER);
        VM.warp(T0 + 8 days);
        _wrong(id, LoomEscrow.Status.Submitted);
        esc.refund(id);
    }

    // --------------------------------------------------------------- withdraw

    function test_withdraw_paysAndEmits() public {
        bytes32 id = _submitted(CLIENT, REF, WORKER);
        _acceptCredited(id, WORKER);
        _eq(esc.balanceOf(WORKER), WEI, "credited");
        VM.expectEmit(true, true, true, true, address(esc));
        emit Withdrawn(WORKER, WORKER, WEI);
        VM.prank(WORKER);
        esc.withdraw();
        _eq(WORKER.balance, WEI, "paid");
        _eq(esc.balanceOf(WORKER), 0, "zeroed");
        _eq(address(esc).balance, 0, "escrow empty");
    }

    function test_withdraw_revertsNothing() public {
        VM.prank(WORKER);
        VM.expectRevert(LoomEscrow.NothingToWithdraw.selector);
        esc.withdraw();
    }

    function test_withdraw_revertsTransferFailedWithoutLoss() public {
        Refuser r = new Refuser(esc);
        bytes32 id = _create(CLIENT, REF);
        r.claim(id);
        r.submit(id);
        VM.prank(CLIENT);
        esc.accept(id);
        VM.expectRevert(LoomEscrow.TransferFailed.selector);
        r.withdraw();
        _eq(esc.balanceOf(address(r)), WEI, "balance kept");
    }

    function test_withdrawTo_paysOther() public {
        bytes32 id = _submitted(CLIENT, REF, WORKER);
        _acceptCredited(id, WORKER);
        VM.prank(WORKER);
        esc.withdrawTo(payable(ANYONE));
        _eq(ANYONE.balance, WEI, "paid");
    }

    function test_withdrawTo_revertsZeroAddress() public {
        VM.prank(WORKER);
        VM.expectRevert(LoomEscrow.ZeroAddress.selector);
        esc.withdrawTo(payable(address(0)));
    }

    // ------------------------------------------------------------------ pause

    function test_setPaused_guardianOnly() public {
        VM.prank(ANYONE);
        VM.expectRevert(LoomEscrow.NotGuardian.selector);
        esc.setPaused(true);
        VM.expectEmit(true, true, true, true, address(esc));
        emit PausedSet(true);
        VM.prank(GUARDIAN);
        esc.setPaused(true);
        _ok(esc.paused(), "paused");
        VM.prank(GUARDIAN);
        esc.setPaused(false);
        _create(CLIENT, REF);
    }

    /// Release, refund, reopen and withdraw (and submit, accept, dispute, resolve, upkeep) ignore the pause.
    function test_pause_neverBlocksExits() public {
        bytes32 a = _submitted(CLIENT, bytes32("a"), WORKER);
        bytes32 b = _create(CLIENT, bytes32("b"));
        bytes32 c = _claimed(CLIENT, bytes32("c"), WORKER2);
        bytes32 d = _claimed(CLIENT2, bytes32("d"), WORKER);
        VM.prank(GUARDIAN);
        esc.setPaused(true);
        VM.prank(WORKER);
        esc.submit(d, RESULT);
        VM.warp(T0 + 1 days + 1);
        esc.release(a);
        esc.reopen(c);
        VM.warp(T0 + 7 days + 1);
        esc.refund(b);
        VM.prank(CLIENT2);
        esc.accept(d);
        _eq(WORKER.balance, 2 * WEI, "worker paid for a and d");
        _eq(CLIENT.balance, 1000 ether - 2 * WEI, "client got b back");
    }

    // ---------------------------------------------------------------- reentrancy

    function test_reentrancy_withdrawCannotReenter() public {
        Reenterer r = new Reenterer(esc);
        bytes32 id = _create(CLIENT, REF);
        r.claim(id);
        r.submit(id);
        VM.prank(CLIENT);
        esc.accept(id);
        r.setMode(1, id);
        r.withdraw();
        _ok(r.reentryFailed(), "reentry refused");
        _ok(
            keccak256(r.reentryError())
                == keccak256(abi.encodeWithSelector(ReentrancyGuardTransient.ReentrancyGuardReentrantCall.selector)),
            "guard error"
        );
        _eq(address(r).balance, WEI, "paid once");
        _eq(esc.balanceOf(address(r)), 0, "zeroed before the call");
    }

    function test_reentrancy_createSurplusCannotReenter() public {
        Reenterer r = new Reenterer(esc);
        bytes32 other = _create(CLIENT, REF);
        VM.deal(address(r), 1 ether);
        r.setMode(3, other);
        r.create(REF, CENTS, 1 ether);
        _ok(r.reentryFailed(), "reentry refused");
        _ok(_status(other) == LoomEscrow.Status.Open, "not claimed from the hook");
    }

    // ---------------------------------------------------------------- payouts

    /// An EOA that was never credited is paid straight to its wallet, to the wei, every time,
    /// and its balance slot is never written.
    function test_pay_pushesToEoaExactlyAndRepeatedly() public {
        VM.deal(WORKER, 5 ether);
        bytes32 a = _submitted(CLIENT, bytes32("a"), WORKER);
        bytes32 b = _submitted(CLIENT2, bytes32("b"), WORKER);
        VM.prank(CLIENT);
        esc.accept(a);
        _eq(WORKER.balance, 5 ether + WEI, "first payment in the wallet");
        _eq(_slot(WORKER), 0, "slot untouched");
        VM.warp(T0 + 1 days + 1);
        esc.release(b);
        _eq(WORKER.balance, 5 ether + 2 * WEI, "second payment in the wallet");
        _eq(_slot(WORKER), 0, "slot still untouched");
        _eq(address(esc).balance, 0, "escrow empty");
        VM.prank(WORKER);
        VM.expectRevert(LoomEscrow.NothingToWithdraw.selector);
        esc.withdraw();
    }

    /// Once credited (here: a payment while the account refused ETH), an account is always
    /// credited, even after it withdrew everything and takes ETH again.
    function test_pay_creditedAccountStaysCredited() public {
        bytes32 a = _submitted(CLIENT, bytes32("a"), WORKER);
        _acceptCredited(a, WORKER);
        _eq(_slot(WORKER), WEI + 1, "slot = balance + 1");
        VM.prank(WORKER);
        esc.withdraw();
        _eq(_slot(WORKER), 1, "withdraw leaves 1");
        _eq(WORKER.balance, WEI, "withdrawn");
        bytes32 b = _submitted(CLIENT, bytes32("b"), WORKER);
        VM.prank(CLIENT);
        esc.accept(b);
        _eq(WORKER.balance, WEI, "no send");
        _eq(esc.balanceOf(WORKER), WEI, "credited");
        _eq(address(esc).balance, WEI, "escrow holds the credit");
    }

    /// A contract payee is credited without any call: a refusing one, a gas-burning one, one
    /// that would re-enter; the EOAs settled in the same batch are paid to their wallets.
    function test_pay_contractsCreditedNoCodeRuns() public {
        Refuser bad = new Refuser(esc);
        GasHog hog = new GasHog(esc);
        Reenterer re = new Reenterer(esc);
        bytes32 a = _create(CLIENT, bytes32("a"));
        bytes32 b = _create(CLIENT, bytes32("b"));
        bytes32 c = _create(CLIENT, bytes32("c"));
        bytes32 d = _submitted(CLIENT, bytes32("d"), WORKER);
        bad.claim(a);
        bad.submit(a);
        hog.claim(b);
        hog.submit(b);
        re.claim(c);
        re.submit(c);
        bytes32 other = _submitted(CLIENT2, bytes32("other"), WORKER2);
        re.setMode(2, other); // its hook would release `other`
        VM.warp(T0 + 1 days + 1);
        LoomEscrow.Item[] memory items = new LoomEscrow.Item[](4);
        items[0] = LoomEscrow.Item(a, LoomEscrow.Action.Release);
        items[1] = LoomEscrow.Item(b, LoomEscrow.Action.Release);
        items[2] = LoomEscrow.Item(c, LoomEscrow.Action.Release);
        items[3] = LoomEscrow.Item(d, LoomEscrow.Action.Release);
        esc.performUpkeep{gas: 1_000_000}(abi.encode(items));
        _eq(esc.balanceOf(address(bad)), WEI, "refuser credited");
        _eq(esc.balanceOf(address(hog)), WEI, "hog credited");
        _eq(esc.balanceOf(address(re)), WEI, "reenterer credited");
        _eq(address(re).balance, 0, "nothing sent to the reenterer");
        _ok(!re.reentryFailed() && re.reentryError().length == 0, "the reenterer's hook never ran");
        _ok(_status(other) == LoomEscrow.Status.Submitted, "other job untouched");
        _eq(WORKER.balance, WEI, "EOA worker paid in the same batch");
        _eq(address(esc).balance, 4 * WEI, "escrow = three credits + the other job");
    }

    /// Re-entering release from a withdrawal's send is refused: release is nonReentrant now
    /// that it may send ETH.
    function test_reentrancy_releaseCannotBeReenteredFromWithdraw() public {
        Reenterer r = new Reenterer(esc);
        bytes32 id = _create(CLIENT, REF);
        r.claim(id);
        r.submit(id);
        VM.prank(CLIENT);
        esc.accept(id);
        bytes32 other = _submitted(CLIENT2, bytes32("other"), WORKER);
        VM.warp(T0 + 1 days + 1);
        r.setMode(2, other);
        r.withdraw();
        _ok(r.reentryFailed(), "reentry refused");
        _ok(
            keccak256(r.reentryError())
                == keccak256(abi.encodeWithSelector(ReentrancyGuardTransient.ReentrancyGuardReentrantCall.selector)),
            "guard error"
        );
        _ok(_status(other) == LoomEscrow.Status.Submitted, "not released from the hook");
        _eq(address(r).balance, WEI, "paid once");
    }

    /// A keeper batch mixing every payout kind: pushed release, credited release (a worker with a
    /// balance slot), release to a contract, pushed refund, refund to a contract client, a reopen
    /// and a skipped item; every party ends with exactly its amount, in its wallet or its balance.
    function test_performUpkeep_mixedBatch() public {
        Refuser rc = new Refuser(esc);
        Refuser rw = new Refuser(esc);
        VM.deal(address(rc), 1 ether);
        bytes32 seasoned = _submitted(CLIENT2, bytes32("s"), WORKER2);
        _acceptCredited(seasoned, WORKER2);
        VM.prank(WORKER2);
        esc.withdraw(); // WORKER2: WEI in the wallet, balance slot at 1
        bytes32 pushed = _submitted(CLIENT, bytes32("p"), WORKER);
        bytes32 credited = _submitted(CLIENT, bytes32("c"), WORKER2);
        bytes32 contractW = _create(CLIENT, bytes32("w"));
        rw.claim(contractW);
        rw.submit(contractW);
        bytes32 refundEoa = _claimed(CLIENT, bytes32("r"), WORKER);
        bytes32 refundContract = rc.create(bytes32("rc"), CENTS, WEI);
        bytes32 reopenMe = _create(CLIENT2, bytes32("o"));
        VM.prank(WORKER);
        esc.claim(reopenMe);
        // Refunds are due after 7 days; a reopen needs a lapsed claim before the deadline.
        VM.warp(T0 + 7 days + 1);
        LoomEscrow.Item[] memory items = new LoomEscrow.Item[](6);
        items[0] = LoomEscrow.Item(pushed, LoomEscrow.Action.Release);
        items[1] = LoomEscrow.Item(credited, LoomEscrow.Action.Release);
        items[2] = LoomEscrow.Item(contractW, LoomEscrow.Action.Release);
        items[3] = LoomEscrow.Item(refundEoa, LoomEscrow.Action.Refund);
        items[4] = LoomEscrow.Item(refundContract, LoomEscrow.Action.Refund);
        items[5] = LoomEscrow.Item(reopenMe, LoomEscrow.Action.Reopen); // past the deadline: skipped
        VM.expectEmit(true, true, true, true, address(esc));
        emit UpkeepPerformed(ANYONE, 5, 1);
        VM.prank(ANYONE);
        esc.performUpkeep(abi.encode(items));
        _eq(WORKER.balance, WEI, "pushed release");
        _eq(esc.balanceOf(WORKER), 0, "pushed worker not credited");
        _eq(WORKER2.balance, WEI, "credited worker's wallet unchanged");
        _eq(esc.balanceOf(WORKER2), WEI, "credited worker's balance");
        _eq(esc.balanceOf(address(rw)), WEI, "contract worker credited");
        _eq(CLIENT.balance, 1000 ether - 3 * WEI, "client: 4 jobs paid, 1 refunded to the wallet");
        _eq(esc.balanceOf(CLIENT), 0, "client not credited");
        _eq(esc.balanceOf(address(rc)), WEI, "contract client credited its refund");
        _eq(address(rc).balance, 1 ether - WEI, "contract client's wallet unchanged by the refund");
        _ok(_status(reopenMe) == LoomEscrow.Status.Claimed, "reopen skipped");
        // Escrow: three credits + the still-claimed job.
        _eq(address(esc).balance, 4 * WEI, "escrow = credits + locked");
    }

    // -------------------------------------------------------------- blocking

    /// A reverting worker and a gas-hungry worker never block the client or each other.
    function test_pullPayments_badRecipientsBlockNobody() public {
        Refuser bad = new Refuser(esc);
        GasHog hog = new GasHog(esc);
        bytes32 a = _create(CLIENT, bytes32("a"));
        bytes32 b = _create(CLIENT, bytes32("b"));
        bytes32 c = _submitted(CLIENT, bytes32("c"), WORKER);
        bad.claim(a);
        bad.submit(a);
        hog.claim(b);
        hog.submit(b);
        VM.warp(T0 + 1 days + 1);
        LoomEscrow.Item[] memory items = new LoomEscrow.Item[](3);
        items[0] = LoomEscrow.Item(a, LoomEscrow.Action.Release);
        items[1] = LoomEscrow.Item(b, LoomEscrow.Action.Release);
        items[2] = LoomEscrow.Item(c, LoomEscrow.Action.Release);
        esc.performUpkeep(abi.encode(items));
        _eq(WORKER.balance, WEI, "good worker paid in the same batch");
        _eq(esc.balanceOf(WORKER), 0, "good worker not credited");
        _eq(esc.balanceOf(address(bad)), WEI, "refuser credited");
        _eq(esc.balanceOf(address(hog)), WEI, "hog credited");
        _eq(address(esc).balance, 2 * WEI, "escrow holds the two credits");
        VM.expectRevert(LoomEscrow.TransferFailed.selector);
        hog.withdraw(); // only the hog itself is stuck, and keeps its balance
        _eq(esc.balanceOf(address(hog)), WEI, "hog keeps its balance");
    }

    // ------------------------------------------------------------- automation

    function _ids(bytes32 a, bytes32 b, bytes32 c, bytes32 d) internal pure returns (bytes memory) {
        bytes32[] memory ids = new bytes32[](4);
        (ids[0], ids[1], ids[2], ids[3]) = (a, b, c, d);
        return abi.encode(ids);
    }

    function test_checkUpkeep_listsDueJobs() public {
        bytes32 open = _create(CLIENT, bytes32("open"));
        bytes32 lapsed = _claimed(CLIENT, bytes32("lapsed"), WORKER);
        bytes32 sub = _submitted(CLIENT, bytes32("sub"), WORKER);
        (bool need, bytes memory data) = esc.checkUpkeep(_ids(open, lapsed, sub, bytes32("none")));
        _ok(!need && abi.decode(data, (LoomEscrow.Item[])).length == 0, "nothing due yet");

        VM.warp(T0 + 1 days + 1);
        (need, data) = esc.checkUpkeep(_ids(open, lapsed, sub, bytes32("none")));
        LoomEscrow.Item[] memory items = abi.decode(data, (LoomEscrow.Item[]));
        _ok(need && items.length == 2, "two due");
        _ok(items[0].jobId == lapsed && items[0].action == LoomEscrow.Action.Reopen, "reopen");
        _ok(items[1].jobId == sub && items[1].action == LoomEscrow.Action.Release, "release");

        VM.warp(T0 + 8 days);
        _ok(esc.dueAction(open) == LoomEscrow.Action.Refund, "refund open");
        _ok(esc.dueAction(lapsed) == LoomEscrow.Action.Refund, "refund lapsed");
        _ok(esc.dueAction(bytes32("none")) == LoomEscrow.Action.None, "unknown");
    }

    function test_checkUpkeep_revertsBatchTooLarge() public {
        bytes32[] memory ids = new bytes32[](1001);
        VM.expectRevert(abi.encodeWithSelector(LoomEscrow.BatchTooLarge.selector, 1001));
        esc.checkUpkeep(abi.encode(ids));
    }

    function test_checkUpkeep_capsAtMaxBatch() public {
        bytes32[] memory ids = new bytes32[](150);
        for (uint256 i; i < 150; ++i) {
            ids[i] = _create(CLIENT, bytes32(i + 1));
        }
        VM.warp(T0 + 8 days);
        (bool need, bytes memory data) = esc.checkUpkeep(abi.encode(ids));
        _ok(need, "due");
        _eq(abi.decode(data, (LoomEscrow.Item[])).length, 100, "capped");
    }

    function test_performUpkeep_settlesAndSkips() public {
        bytes32 open = _create(CLIENT, bytes32("open"));
        bytes32 lapsed = _claimed(CLIENT, bytes32("lapsed"), WORKER);
        bytes32 sub = _submitted(CLIENT, bytes32("sub"), WORKER2);
        VM.warp(T0 + 1 days + 1);
        LoomEscrow.Item[] memory items = new LoomEscrow.Item[](5);
        items[0] = LoomEscrow.Item(open, LoomEscrow.Action.Refund); // not due: skipped
        items[1] = LoomEscrow.Item(lapsed, LoomEscrow.Action.Reopen);
        items[2] = LoomEscrow.Item(sub, LoomEscrow.Action.Release);
        items[3] = LoomEscrow.Item(sub, LoomEscrow.Action.Release); // listed twice: second skipped
        items[4] = LoomEscrow.Item(bytes32("none"), LoomEscrow.Action.None);
        VM.expectEmit(true, true, true, true, address(esc));
        emit UpkeepPerformed(ANYONE, 2, 3);
        VM.prank(ANYONE);
        esc.performUpkeep(abi.encode(items));
        _ok(_status(open) == LoomEscrow.Status.Open, "open untouched");
        _ok(_status(lapsed) == LoomEscrow.Status.Open, "reopened");
        _eq(WORKER2.balance, WEI, "paid once");
        // A second keeper with the same list: harmless.
        esc.performUpkeep(abi.encode(items));
        _eq(WORKER2.balance, WEI, "still paid once");
        // Refund through upkeep after the deadline.
        VM.warp(T0 + 8 days);
        (, bytes memory data) = esc.checkUpkeep(_ids(open, lapsed, sub, bytes32("none")));
        esc.performUpkeep(data);
        _eq(CLIENT.balance, 1000 ether - WEI, "two refunds back in the wallet, one job paid");
        _eq(address(esc).balance, 0, "escrow empty");
    }

    function test_performUpkeep_revertsBatchTooLarge() public {
        LoomEscrow.Item[] memory items = new LoomEscrow.Item[](101);
        VM.expectRevert(abi.encodeWithSelector(LoomEscrow.BatchTooLarge.selector, 101));
        esc.performUpkeep(abi.encode(items));
    }

    /// The exact performData bytes a C keeper builds by hand (docs/contracts.md).
    function test_performUpkeep_handBuiltEncoding() public {
        bytes32 sub = _submitted(CLIENT, REF, WORKER);
        VM.warp(T0 + 1 days + 1);
        bytes memory data = abi.encodePacked(uint256(0x20), uint256(1), sub, uint256(1));
        LoomEscrow.Item[] memory items = new LoomEscrow.Item[](1);
        items[0] = LoomEscrow.Item(sub, LoomEscrow.Action.Release);
        _ok(keccak256(data) == keccak256(abi.encode(items)), "same bytes as abi.encode");
        esc.performUpkeep(data);
        _eq(WORKER.balance, WEI, "released");
    }
}
