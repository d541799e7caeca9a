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
//     GPSPM method of docs/design.md). Images are fully allocated (fallocate)
//     before they are mapped: a store into a page the file system cannot
//     back would be SIGBUS, not an error. A new image that does not fit,
//     or a sparse one from an older brick that cannot be filled, is
//     refused with ErrNoSpace.
//
//   - KindAnonymous: MAP_ANONYMOUS|MAP_PRIVATE memory. Volatile, and it says
//     so: Persistent() is false and Flush is a no-op. For tests and demos.
//
//   - KindDevDAX: a device-DAX character device (/dev/daxX.Y) mapped
//     MAP_SHARED. Size and alignment come from sysfs; alignment must be at
//     least 2 MiB so frames never straddle a device page. Stores are made
//     durable from user space with CLWB (else CLFLUSHOPT, else CLFLUSH) and
//     SFENCE, see flush.go; on eADR platforms only the SFENCE is kept.
//
//   - KindFSDAX: a file on a DAX file system mapped
//     MAP_SHARED_VALIDATE|MAP_SYNC, so that page faults make the file
//     system's metadata durable and CPU flushes alone persist data. The
//     kernel refuses MAP_SYNC (EOPNOTSUPP) for a file not on DAX; OpenFSDAX
//     reports that as ErrNotSupported.
//
// Tests add a fifth, the power-fail simulator in pmem/powerfail, which
// implements Region over ordinary memory (FormatImage gives it the same
// superblock) and models the data path (DataPathModel). Open cannot select
// it.
//
// Open chooses the backend for a path: device-DAX for /dev/dax*, fsdax when
// statx reports STATX_ATTR_DAX, otherwise a plain file.
//
// What a backend can promise is its Properties: whether it is persistent at
// all, how a range is flushed (FlushCPU, FlushMsync, FlushNone), whether
// bytes that reach the memory controller are already persistent (the
// persistence domain: ADR or eADR, read from
// /sys/bus/nd/devices/region*/persistence_domain), and whether CPU flushes
// are skipped because the caches themselves are in the domain (eADR). The
// persist package chooses the persist method (FLUSH, APM, GPSPM) from them.
//
// Data-path hooks: HooksFor(r, b) returns an object with the method set of
// verbs.Hooks (Placed, ReadServed, Flush) for memory b registered with an
// RNIC. For real memory only Flush does something (it flushes the range
// like Region.Flush); for a region that is a DataPathModel (the power-fail
// simulator) the hooks drive its model. pmem does not import verbs; the
// method sets match structurally.
//
// The API the rest of brick uses (persist/, brick/, cmd/brickd):
//
//	Open(path, Options) (Region, error)     choose and open a backend
//	ParseKind, ParseDomain                  brickd flag values (sizes: internal/size)
//	Region.Properties() Properties          what the region can promise
//	Region.Binding(), Region.Bind(b)        the metadata store the superblock records
//	DetectDomain(sysfsRoot) (Domain, error) the platform's persistence domain
//	HooksFor(r, buf) (DataPath, error)      verbs.Hooks for a registration
//	CPUFlush(b), Fence(), CPUFlushInstruction()
//	FormatImage, DataPathModel              for regions kept in memory (pmem/powerfail)
//
// The superblock (frame 0, offset 0, little-endian): the image header of
// internal/imghdr, which the tier file shares, then the binding slots
// (the bindOff* constants in superblock.go):
//
//	offset  size  field
//	     0     8  magic "BRICKPM\x00"
//	     8     4  version (2; 1 is still read)
//	    12     4  frame size in bytes (FrameSize)
//	    16     8  number of data frames (image size / FrameSize - 1)
//	    24    16  UUID (random, version 4)
//	    40     4  CRC-32C (Castagnoli) of bytes [0, 40)
//	    64    32  binding slot A (version 2)
//	   128    32  binding slot B (version 2)
//
// A binding slot records the metadata store that maps the region (Binding):
//
//	offset  size  field
//	     0    16  metadata store ID (zero: none recorded)
//	    16     8  generation
//	    24     4  reserved, zero
//	    28     4  CRC-32C of bytes [0, 28) of the slot
//
// An all-zero slot is empty. The valid slot with the higher generation is
// the binding; Bind overwrites the other one, so a torn write loses at most
// the update in flight. Version 1 has no slots: it predates bindings, and
// its first Bind writes both slots and then the version. A version-1 brick
// refuses a version-2 image as a version it does not read, instead of
// ignoring its binding.
//
// An all-zero header is unformatted and is formatted on first open (the
// header is written and msync'ed before OpenFile returns) unless
// Options.Existing forbids it; anything else must validate, or it is
// refused with one of internal/imghdr's header errors (ErrBadMagic,
// ErrBadChecksum, ErrVersion, ErrGeometry).
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
	KindDevDAX    Kind = "devdax"
	KindFSDAX     Kind = "fsdax"
)

// FlushMethod is how a backend makes a range durable.
type FlushMethod string

// Flush methods.
const (
	// FlushCPU: cache-line write-back instructions and SFENCE from user
	// space (CLWB, else CLFLUSHOPT, else CLFLUSH). Device DAX, fsdax with
	// MAP_SYNC, the power-fail simulator.
	FlushCPU FlushMethod = "cpu"
	// FlushMsync: msync(MS_SYNC) of the covering pages. Plain files.
	FlushMsync FlushMethod = "msync"
	// FlushNone: nothing can make the bytes durable. Anonymous memory.
	FlushNone FlushMethod = "none"
)

// Properties say what a region can promise. They are fixed when the region
// is opened.
type Properties struct {
	// Kind is the backend.
	Kind Kind
	// Persistent: data survives a power failure once flushed (by
	// FlushMethod). False for anonymous memory and for DAX memory outside
	// any persistence domain.
	Persistent bool
	// FlushMethod is what Region.Flush does.
	FlushMethod FlushMethod
	// Domain is the platform persistence domain of the memory: DomainADR
	// (memory controller), DomainEADR (CPU caches), DomainNone (a DAX
	// region with no persistence guarantee), or DomainUnknown for memory
	// that is not DAX (files, anonymous memory).
	Domain Domain
	// InPersistenceDomain: bytes that reach the memory controller are
	// persistent without any CPU action (devdax and fsdax in an ADR or
	// eADR domain, the power-fail simulator). This is what makes the APM
	// method possible when the NIC's writes bypass the CPU cache (DDIO
	// off), and what lets an RNIC's FLUSH be persistent.
	InPersistenceDomain bool
	// SkipCPUFlush: the CPU caches are in the persistence domain (eADR), so
	// Flush issues only SFENCE and no cache-line flushes.
	SkipCPUFlush bool
	// CPUFlush is the instruction Flush uses for FlushCPU backends
	// ("clwb", "clflushopt", "clflush"; "sfence" alone under eADR); empty
	// otherwise.
	CPUFlush string
	// DDIO is, for memory that models where an RNIC's placements land
	// (the power-fail simulator), that model's DDIO setting; real memory
	// says DDIONotModelled, and its truth is in the NIC's root port.
	DDIO DDIOModel
}

// DDIOModel is what a region's model of the platform says about DDIO.
type DDIOModel uint8

// DDIO models.
const (
	DDIONotModelled DDIOModel = iota // real memory
	DDIOModelOff                     // placements go to the memory controller
	DDIOModelOn                      // placements allocate in the CPU cache
)

// Region is one mapped pmem region: frame 0 holds the superblock, data frames
// follow.
//
// Frame slices stay valid until Close; using them afterwards faults. Frame
// and Flush may be called concurrently on different frames. A frame is
// zeroed with stores and a Flush (brick.zeroFrame): changing a file's
// extents would detach its pages from an RNIC registration that pinned
// them.
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
	// DataSpan returns every data frame as one slice, in order:
	// Frame(i) is DataSpan()[i*FrameSize : (i+1)*FrameSize]. One RNIC
	// registration over it covers every frame (the brick binds memory
	// windows into it). Empty when the region has no data frames.
	DataSpan() []byte
	// Flush makes b, a sub-slice of a Frame or of a run of frames that
	// are adjacent in memory, durable. For a file it is
	// msync(MS_SYNC) of the pages covering b; for devdax and fsdax a CPU
	// flush of the cache lines covering b (SFENCE only under eADR); a
	// no-op for anonymous memory. A slice outside the region: ErrRange.
	Flush(b []byte) error
	// Binding is the metadata store the superblock records as mapping this
	// region (zero: none yet). false: a version-1 superblock, written
	// before bindings existed, which cannot say whether a store maps it.
	Binding() (Binding, bool)
	// Bind records b in the superblock and makes it durable before it
	// returns, upgrading a version-1 superblock to version 2.
	Bind(b Binding) error
	// Path is the backing file, "" for anonymous memory.
	Path() string
	// Properties say what the region can promise; persist chooses the
	// persist method from them.
	Properties() Properties
	// Close unmaps the region and releases the image lock.
	Close() error
}

// ExtentZeroer is implemented by regions that can zero a frame without
// storing to it, by changing the backing file's extents
// (FALLOC_FL_ZERO_RANGE on a file image). That costs no scan and no
// writeback of 2 MiB, but it drops the frame's pages from the page cache:
// pages an RNIC pinned are detached from the file, and the RNIC's later
// writes would land in memory the file no longer holds. Use it only for
// frames no hardware RNIC can have registered.
type ExtentZeroer interface {
	// ZeroExtents zeroes data frame i in the file; the zeroes are durable
	// once SyncExtents, or a Flush covering the frame, returns. false with
	// a nil error: the region or its file system cannot (DAX, no
	// ZERO_RANGE), and the frame is unchanged.
	ZeroExtents(i uint64) (bool, error)
	// SyncExtents makes every ZeroExtents before it durable with one
	// data sync of the file: a batch of frames scattered over the image
	// costs one device cache flush, where a Flush per frame costs one
	// each.
	SyncExtents() error
}

// checkFrameCount validates a region size in bytes and returns its number of
// data frames.
func checkFrameCount(size int64) (uint64, bool) {
	if size < 2*FrameSize || size%FrameSize != 0 {
		return 0, false
	}
	return uint64(size/FrameSize) - 1, true
}
