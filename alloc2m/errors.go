package alloc2m

import (
	"errors"

	"github.com/brick-storage/brick/protocol"
)

// Sentinel errors. Errors returned by this package wrap one of these with
// the block ID, frame or directory concerned; test with errors.Is. The
// first five are outcomes a client is told of: each refines the protocol
// status it is reported as (in brackets), so protocol.StatusOf maps them.
var (
	// ErrUnaligned: a logical ID that is not a multiple of BlockSize (EINVAL).
	ErrUnaligned = protocol.Refine(protocol.ErrInvalid, "brick: block ID is not 2 MiB aligned")
	// ErrExist: the ID is already allocated (EEXIST).
	ErrExist = protocol.Refine(protocol.ErrExist, "brick: block already allocated")
	// ErrNoSpace: the store is at capacity, or every frame (or slot) is
	// in use or reserved (ENOSPC).
	ErrNoSpace = protocol.Refine(protocol.ErrNoSpace, "brick: no free pmem frame or tier slot")
	// ErrNotFound: the ID is not allocated (ENOENT).
	ErrNotFound = protocol.Refine(protocol.ErrNotFound, "brick: block not allocated")
	// ErrBusy: another operation on the same block is being committed (EBUSY).
	ErrBusy = protocol.Refine(protocol.ErrBusy, "brick: block busy with another operation")
	// ErrUUIDMismatch: the metadata belongs to a different pmem region.
	ErrUUIDMismatch = errors.New("brick: metadata belongs to another brick")
	// ErrCorrupt: a metadata record cannot be decoded or contradicts another.
	ErrCorrupt = errors.New("brick: metadata store corrupt")
	// ErrTooSmall: the pmem region has fewer frames than the metadata uses.
	ErrTooSmall = errors.New("brick: pmem region smaller than the frames in use")
	// ErrLocked: another process (a running brickd) holds the store.
	ErrLocked = errors.New("brick: metadata store locked")
	// ErrReadOnly: a change was attempted on a store opened read-only.
	ErrReadOnly = errors.New("brick: metadata store opened read-only")
	// ErrFailed: a commit failed and its outcome on disk is unknown; the
	// store refuses further changes until it is reopened.
	ErrFailed = errors.New("brick: metadata store failed; restart to recover")
	// ErrInvalid: Open was given unusable options.
	ErrInvalid = errors.New("brick: invalid allocator options")
	// ErrClosed: the store is closed.
	ErrClosed = errors.New("brick: metadata store closed")
	// ErrNoMetadata: Options.Expect names a store, but the directory holds
	// none, or one without brick metadata (its log was lost).
	ErrNoMetadata = errors.New("brick: metadata store missing or empty")
	// ErrStoreMismatch: the store is not the one Options.Expect names.
	ErrStoreMismatch = errors.New("brick: metadata store is not the one the pmem image records")
	// ErrRolledBack: the store's generation and Options.Expect's disagree:
	// one of the two was restored from an older copy, or lost its newest
	// writes.
	ErrRolledBack = errors.New("brick: metadata store and pmem image are from different points in time")
	// ErrDiskFull: the metadata file system has no room for what opening
	// the store must write.
	ErrDiskFull = errors.New("brick: not enough free space for the metadata store")
	// ErrIO: opening the store failed writing to disk for another reason.
	ErrIO = errors.New("brick: metadata store I/O error")
)
