// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";

/// @title idlegrad RewardDistributor
/// @notice Cumulative Merkle claims of one ERC-20. Every epoch the coordinator (owner) posts
///         the root of a tree of (account, cumulative total earned so far) together with the
///         run's latest model hash. Anyone may submit a claim; the tokens always go to the
///         account in the leaf, which receives `cumulative - claimed[account]`.
/// @dev    Only the current root is claimable: a proof against an older root fails, and the
///         client refetches its proof. Because leaves are cumulative, nothing is lost by that.
///         Leaf = keccak256(bytes.concat(keccak256(abi.encode(account, cumulativeAmount)))),
///         as OpenZeppelin's merkle-tree library (StandardMerkleTree, types address,uint256)
///         encodes it; the double hash keeps a 64-byte leaf preimage from passing as a node.
contract RewardDistributor is Ownable {
    using SafeERC20 for IERC20;

    /// @notice The token being distributed; fixed at deployment.
    IERC20 public immutable token;

    /// @notice Root of the current cumulative reward tree.
    bytes32 public merkleRoot;
    /// @notice The run's model hash posted with the current root.
    bytes32 public latestModelHash;
    /// @notice Epoch of the current root (meaningful once epochCount > 0).
    uint64 public lastEpoch;
    /// @notice How many epochs were posted.
    uint64 public epochCount;

    /// @notice Cumulative amount already paid out per account.
    mapping(address account => uint256 amount) public claimed;

    event EpochPosted(uint64 indexed epoch, bytes32 root, bytes32 modelHash);
    event Claimed(address indexed account, uint256 amount, uint256 cumulativeAmount);

    error EpochNotIncreasing(uint64 epoch, uint64 lastEpoch);
    error InvalidProof();
    error NothingToClaim();

    constructor(IERC20 token_, address owner_) Ownable(owner_) {
        token = token_;
    }

    /// @notice Publish the reward tree and model hash of `epoch`. Epochs strictly increase;
    ///         the first one may be any number, including 0.
    function postEpoch(uint64 epoch, bytes32 root, bytes32 modelHash) external onlyOwner {
        if (epochCount != 0 && epoch <= lastEpoch) revert EpochNotIncreasing(epoch, lastEpoch);
        lastEpoch = epoch;
        epochCount += 1;
        merkleRoot = root;
        latestModelHash = modelHash;
        emit EpochPosted(epoch, root, modelHash);
    }

    /// @notice Pay `account` what it earned since its last claim. Callable by anyone.
    function claim(address account, uint256 cumulativeAmount, bytes32[] calldata proof) external {
        // Checks
        if (!MerkleProof.verifyCalldata(proof, merkleRoot, leaf(account, cumulativeAmount))) {
            revert InvalidProof();
        }
        uint256 alreadyClaimed = claimed[account];
        if (cumulativeAmount <= alreadyClaimed) revert NothingToClaim();
        uint256 amount = cumulativeAmount - alreadyClaimed;

        // Effects
        claimed[account] = cumulativeAmount;
        emit Claimed(account, amount, cumulativeAmount);

        // Interactions
        token.safeTransfer(account, amount);
    }

    /// @notice The leaf encoding, exposed so off-chain code can pin it with a test vector.
    function leaf(address account, uint256 cumulativeAmount) public pure returns (bytes32) {
        return keccak256(bytes.concat(keccak256(abi.encode(account, cumulativeAmount))));
    }
}
