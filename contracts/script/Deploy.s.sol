// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {AggregatorV3Interface} from "@chainlink/contracts/src/v0.8/shared/interfaces/AggregatorV3Interface.sol";
import {MockV3Aggregator} from "@chainlink/contracts/src/v0.8/tests/MockV3Aggregator.sol";
import {LoomEscrow} from "../src/LoomEscrow.sol";

/// @dev The forge cheatcodes this script uses (public Vm ABI).
interface VmDeploy {
    function envString(string calldata name) external view returns (string memory);
    function envUint(string calldata name) external view returns (uint256);
    function envInt(string calldata name) external view returns (int256);
    function envAddress(string calldata name) external view returns (address);
    function readFile(string calldata path) external view returns (string memory);
    function writeFile(string calldata path, string calldata data) external;
    function trim(string calldata input) external pure returns (string memory);
    function parseUint(string calldata input) external pure returns (uint256);
    function addr(uint256 privateKey) external pure returns (address);
    function toString(address value) external pure returns (string memory);
    function toString(uint256 value) external pure returns (string memory);
    function startBroadcast(uint256 privateKey) external;
    function stopBroadcast() external;
}

/// @title Deploy
/// @author The Loom
/// @notice Deploys Chainlink's MockV3Aggregator (8 decimals) and LoomEscrow. Driven by
/// deploy.sh, which sets LOOM_DEPLOY_* and keeps the key in a 0600 file (never on a command line).
contract Deploy {
    VmDeploy internal constant VM = VmDeploy(address(uint160(uint256(keccak256("hevm cheat code")))));

    /// @notice Deploys, then writes "feed escrow arbiter guardian" to $LOOM_DEPLOY_DIR/addresses.
    function run() external {
        string memory dir = VM.envString("LOOM_DEPLOY_DIR");
        uint256 pk = VM.parseUint(VM.trim(VM.readFile(string.concat(dir, "/key"))));
        address me = VM.addr(pk);
        int256 answer = VM.envInt("LOOM_DEPLOY_ANSWER");
        uint256 heartbeat = VM.envUint("LOOM_DEPLOY_HEARTBEAT");
        require(heartbeat > 0 && heartbeat <= type(uint32).max, "heartbeat out of range");
        // forge-lint: disable-next-line(unsafe-typecast)
        uint32 hb = uint32(heartbeat); // range checked above
        address arbiter = VM.envAddress("LOOM_DEPLOY_ARBITER");
        address guardian = VM.envAddress("LOOM_DEPLOY_GUARDIAN");
        if (arbiter == address(0)) arbiter = me;
        if (guardian == address(0)) guardian = me;

        VM.startBroadcast(pk);
        MockV3Aggregator feed = new MockV3Aggregator(8, answer);
        LoomEscrow esc = new LoomEscrow(feed, hb, AggregatorV3Interface(address(0)), 0, arbiter, guardian);
        VM.stopBroadcast();

        VM.writeFile(
            string.concat(dir, "/addresses"),
            string.concat(
                VM.toString(address(feed)), " ", VM.toString(address(esc)), " ",
                VM.toString(arbiter), " ", VM.toString(guardian), " ", VM.toString(heartbeat), "\n"
            )
        );
    }
}
