// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {AggregatorV3Interface} from "@chainlink/contracts/src/v0.8/shared/interfaces/AggregatorV3Interface.sol";
import {LoomEscrow} from "../src/LoomEscrow.sol";
import {Base, ScriptedFeed} from "./Base.sol";

/// @dev Fuzz tests over prices, amounts, feed decimals and timings.
contract FuzzTest is Base {
    function setUp() public {
        _setUpBase();
    }

    /// wei = ceil(cents * 10^(16 + d) / answer) for any decimals 0..36, answer and price:
    /// never below the exact value, and less than one wei above it.
    function testFuzz_quoteRoundsUpForAnyDecimals(uint64 cents, uint256 answer, uint8 dec) public {
        dec = uint8(_bound(dec, 0, 36));
        cents = uint64(_bound(cents, 1, type(uint64).max));
        answer = _bound(answer, 1, uint256(type(int256).max));
        ScriptedFeed f = new ScriptedFeed(dec);
        f.set(1, int256(answer), T0, T0, 1);
        LoomEscrow e = new LoomEscrow(f, HEARTBEAT, AggregatorV3Interface(address(0)), 0, ARBITER, GUARDIAN);
        uint256 q = e.quote(cents);
        uint256 num = uint256(cents) * 10 ** (16 + uint256(dec));
        _ok(q * answer >= num, "quote below the exact amount");
        _ok(q == 0 || (q - 1) * answer < num, "quote more than one wei above");
    }

    /// Whatever the client sends above the quote comes straight back; the escrow keeps the quote.
    function testFuzz_createKeepsQuoteReturnsSurplus(uint64 cents, uint256 extra, int256 price) public {
        cents = uint64(_bound(cents, 1, 100_000_000)); // up to $1,000,000
        price = int256(_bound(uint256(price), 1e8, 1_000_000e8)); // $1 .. $1,000,000 per ETH
        feed.updateAnswer(price);
        uint256 amount = esc.quote(cents);
        extra = _bound(extra, 0, 100 ether);
        VM.deal(CLIENT, amount + extra);
        VM.prank(CLIENT);
        bytes32 id = esc.create{value: amount + extra}(REF, cents, SPEC, 0, 1, 1);
        _eq(CLIENT.balance, extra, "surplus returned");
        _eq(address(esc).balance, amount, "escrow holds the quote");
        _eq(esc.getJob(id).amount, amount, "job amount");
        _eq(esc.balanceOf(CLIENT), 0, "nothing credited");
    }

    /// Any payment below the quote is refused.
    function testFuzz_createRejectsUnderpayment(uint64 cents, uint256 short) public {
        cents = uint64(_bound(cents, 1, 100_000_000));
        uint256 amount = esc.quote(cents);
        short = _bound(short, 1, amount);
        VM.prank(CLIENT);
        VM.expectRevert(abi.encodeWithSelector(LoomEscrow.InsufficientPayment.selector, amount, amount - short));
        esc.create{value: amount - short}(REF, cents, SPEC, 0, 1, 1);
    }

    /// An answer is accepted exactly when it is at most one heartbeat old and not in the future.
    function testFuzz_feedAge(uint256 updatedAt) public {
        updatedAt = _bound(updatedAt, 1, T0 + 10 days);
        feed.updateRoundData(2, ETH_USD, updatedAt, updatedAt);
        if (updatedAt > T0) {
            VM.expectRevert(abi.encodeWithSelector(LoomEscrow.FuturePrice.selector, updatedAt));
        } else if (T0 - updatedAt > HEARTBEAT) {
            VM.expectRevert(abi.encodeWithSelector(LoomEscrow.StalePrice.selector, updatedAt));
        }
        esc.quote(CENTS);
    }

    /// Claim, submit, dispute, release, reopen and refund are allowed exactly in their time ranges,
    /// and dueAction always agrees with what the functions allow.
    function testFuzz_timings(uint32 life, uint32 runtime, uint32 window, uint32 claimAt, uint32 submitAt, uint32 late)
        public
    {
        life = uint32(_bound(life, 1, 30 days));
        runtime = uint32(_bound(runtime, 1, 10 days));
        window = uint32(_bound(window, 0, 10 days));
        uint32 deadline = T0 + life;
        VM.prank(CLIENT);
        bytes32 id = esc.create{value: WEI}(REF, CENTS, SPEC, deadline, runtime, window);

        claimAt = uint32(T0 + _bound(claimAt, 0, life + 1 days));
        VM.warp(claimAt);
        bool claimable = claimAt < deadline;
        _ok((esc.dueAction(id) == LoomEscrow.Action.Refund) == (claimAt > deadline), "due refund before claim");
        VM.prank(WORKER);
        if (!claimable) VM.expectRevert(abi.encodeWithSelector(LoomEscrow.DeadlinePassed.selector, id, deadline));
        esc.claim(id);
        if (!claimable) return;

        uint32 expiry = claimAt + runtime;
        submitAt = uint32(claimAt + _bound(submitAt, 0, runtime + life));
        VM.warp(submitAt);
        LoomEscrow.Action due = esc.dueAction(id);
        if (submitAt > deadline) {
            _ok(due == LoomEscrow.Action.Refund, "due refund");
        } else if (submitAt > expiry && submitAt < deadline) {
            _ok(due == LoomEscrow.Action.Reopen, "due reopen");
        } else {
            _ok(due == LoomEscrow.Action.None, "nothing due");
        }
        bool submittable = submitAt <= expiry && submitAt <= deadline;
        VM.prank(WORKER);
        if (submitAt > expiry) {
            VM.expectRevert(abi.encodeWithSelector(LoomEscrow.ClaimLapsed.selector, id, expiry));
        } else if (submitAt > deadline) {
            VM.expectRevert(abi.encodeWithSelector(LoomEscrow.DeadlinePassed.selector, id, deadline));
        }
        esc.submit(id, RESULT);
        if (!submittable) {
            // The keeper's action for it works, and the job money goes back or the job reopens.
            LoomEscrow.Item[] memory items = new LoomEscrow.Item[](1);
            items[0] = LoomEscrow.Item(id, due);
            esc.performUpkeep(abi.encode(items));
            LoomEscrow.Status s = esc.getJob(id).status;
            if (due == LoomEscrow.Action.Refund) _ok(s == LoomEscrow.Status.Refunded, "refunded");
            if (due == LoomEscrow.Action.Reopen) _ok(s == LoomEscrow.Status.Open, "reopened");
            return;
        }

        uint32 windowEnd = submitAt + window;
        late = uint32(submitAt + _bound(late, 0, window + 1 days));
        VM.warp(late);
        _ok((esc.dueAction(id) == LoomEscrow.Action.Release) == (late > windowEnd), "due release");
        if (late > windowEnd) {
            VM.prank(CLIENT);
            VM.expectRevert(abi.encodeWithSelector(LoomEscrow.WindowClosed.selector, id, windowEnd));
            esc.dispute(id);
            esc.release(id);
            _eq(WORKER.balance, WEI, "released to the worker's wallet");
        } else {
            VM.expectRevert(abi.encodeWithSelector(LoomEscrow.WindowOpen.selector, id, windowEnd));
            esc.release(id);
            VM.prank(CLIENT);
            esc.dispute(id);
        }
    }

    /// Any arbiter split pays out exactly the escrowed amount.
    function testFuzz_resolveSplit(uint256 toWorker) public {
        bytes32 id = _submitted(CLIENT, REF, WORKER);
        VM.prank(CLIENT);
        esc.dispute(id);
        toWorker = _bound(toWorker, 0, WEI);
        VM.prank(ARBITER);
        esc.resolve(id, toWorker);
        _eq(WORKER.balance + CLIENT.balance, 1000 ether, "sum");
        _eq(WORKER.balance, toWorker, "worker share");
        _eq(address(esc).balance, 0, "escrow empty");
    }

    /// Any credited amount is withdrawn in full, exactly once (the worker refuses ETH while
    /// its first job is settled, so every payment is credited).
    function testFuzz_withdrawAmounts(uint64 cents, uint8 jobs) public {
        cents = uint64(_bound(cents, 1, 10_000_000));
        jobs = uint8(_bound(jobs, 1, 8));
        uint256 amount = esc.quote(cents);
        VM.deal(CLIENT, uint256(jobs) * amount);
        for (uint256 i; i < jobs; ++i) {
            VM.prank(CLIENT);
            bytes32 id = esc.create{value: amount}(bytes32(i + 1), cents, SPEC, 0, 1 hours, 0);
            VM.prank(WORKER);
            esc.claim(id);
            VM.prank(WORKER);
            esc.submit(id, RESULT);
            if (i == 0) {
                _acceptCredited(id, WORKER);
            } else {
                VM.prank(CLIENT);
                esc.accept(id);
            }
        }
        _eq(WORKER.balance, 0, "nothing sent");
        VM.prank(WORKER);
        esc.withdraw();
        _eq(WORKER.balance, uint256(jobs) * amount, "paid in full");
        _eq(address(esc).balance, 0, "escrow empty");
        VM.prank(WORKER);
        VM.expectRevert(LoomEscrow.NothingToWithdraw.selector);
        esc.withdraw();
    }

    /// Sequencer: accepted exactly when up and past its grace period.
    function testFuzz_sequencerGrace(uint256 upSince, bool down) public {
        upSince = _bound(upSince, 1, T0);
        ScriptedFeed seq = new ScriptedFeed(0);
        seq.set(1, down ? int256(1) : int256(0), upSince, upSince, 1);
        LoomEscrow e = new LoomEscrow(feed, HEARTBEAT, seq, 3600, ARBITER, GUARDIAN);
        if (down) VM.expectRevert(LoomEscrow.SequencerDown.selector);
        else if (T0 - upSince <= 3600) VM.expectRevert(abi.encodeWithSelector(LoomEscrow.GracePeriodNotOver.selector, upSince));
        e.quote(CENTS);
    }
}
