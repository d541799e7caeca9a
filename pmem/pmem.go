// Package pmem maps the persistent memory a brick exports and makes stores
// to it durable.
//
// A region is one contiguous mapping split into 2 MiB frames. Frame 0 holds
// the superblock, which names the region (a UUID that the metadata store
// also records, so the brick never pairs metadata with the wrong memory) and
// records its geometry. Data frames follow; Frame(i) is data frame i, which
// is physical frame i+1.
//
// Why an interface: where the bytes live decides how they are made durable,
// and the brick must never claim a persistence it cannot give.
//
//   - KindFile: a plain file mapped MAP_SHARED. Stores reach the page cache;
//     they are durable only after Flush, which is msync(MS_SYNC) of the
//     covering pages. Remote writers therefore need the brick's help (the
//     GPSPM method of DESIGN.md). New images are created sparse, and Zero
//     punches the frame out of the file, so an image costs disk space only
//     for the frames in use.
//   - KindAnonymous: MAP_ANONYMOUS|MAP_PRIVATE memory. Volatile, and it says
//     so: Persistent() is false and Flush is a no-op. For tests and demos.
//
// Device DAX, fsdax with MAP_SYNC (flushed with CLWB/CLFLUSHOPT+SFENCE from
// user space) and a power-fail simulator are further implementations of the
// same Region interface.
//
// The superblock (frame 0, offset 0, little-endian; offsets are the sbOff*
// constants in superblock.go):
//
//	offset  size  field
//	     0     8  magic "BRICKPM\x00"
//	     8     4  version (1)
//	    12     4  frame size in bytes (FrameSize)
//	    16     8  number of data frames (image size / FrameSize - 1)
//	    24    16  UUID (random, version 4)
//	    40     4  CRC-32C (Castagnoli) of bytes [0, 40)
//
// An all-zero header is unformatted and is formatted on first open (the
// header is written and msync'ed before OpenFile returns); anything else must
// validate: ErrBadMagic, ErrBadChecksum, ErrVersion or ErrGeometry otherwise.
//
// An image is locked with flock(LOCK_EX) while it is mapped, so two brickd
// processes cannot hand out the same memory.
package pmem

// FrameSize is the size of one frame: the unit of allocation and of the
// superblock area.
const FrameSize = 2 << 20

// Kind names a backend.
type Kind string

// Backends.
const (
	KindFile      Kind = "file"
	KindAnonymous Kind = "anonymous"
)

// Region is one mapped pmem region: frame 0 holds the superblock, data frames
// follow.
//
// Frame slices stay valid until Close; using them afterwards faults. Frame,
// Flush and Zero may be called concurrently on different frames.
type Region interface {
	// Kind is the backend.
	Kind() Kind
	// Persistent reports whether data survives a power failure once
	// flushed. False for anonymous memory.
	Persistent() bool
	// UUID is the region's identity, from the superblock.
	UUID() [16]byte
	// Frames is the number of data frames (excluding the superblock frame).
	Frames() uint64
	// Frame returns the FrameSize bytes of data frame i (0-based). It panics
	// if i >= Frames().
	Frame(i uint64) []byte
	// Flush makes b, a sub-slice of a Frame, durable. For a file it is
	// msync(MS_SYNC) of the pages covering b; a no-op for anonymous memory.
	Flush(b []byte) error
	// Zero zeroes data frame i and makes the zeroes durable.
	Zero(i uint64) error
	// Path is the backing file, "" for anonymous memory.
	Path() string
	// Close unmaps the region and releases the image lock.
	Close() error
}

// checkFrameCount validates a region size in bytes and returns its number of
// data frames.
func checkFrameCount(size int64) (uint64, bool) {
	if size < 2*FrameSize || size%FrameSize != 0 {
		return 0, false
	}
	return uint64(size/FrameSize) - 1, true
}
