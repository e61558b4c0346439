// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @title idlegrad reward (IDLE)
/// @notice A plain fixed-supply ERC-20: the whole supply is minted once, to `recipient`,
///         and the deployer moves the reward budget into the RewardDistributor.
contract RewardToken is ERC20 {
    constructor(address recipient, uint256 supply) ERC20("idlegrad reward", "IDLE") {
        _mint(recipient, supply);
    }
}
