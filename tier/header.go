package tier

import (
	"fmt"

	"github.com/brick-storage/brick/internal/imghdr"
)

// The header is the first HeaderSize bytes of the file: the image header
// of package imghdr (unit: SlotSize; count: the number of slots; UUID: the
// brick's, its pmem region's), magic "BRICKTR\x00", version 1. The rest of
// the header is zero. An all-zero header is unformatted (a crash between
// sizing the file and writing the header leaves one) and is formatted on
// open.
const (
	hdrLen        = imghdr.Size
	headerVersion = 1
)

var headerKind = imghdr.Kind{
	Magic: [8]byte{'B', 'R', 'I', 'C', 'K', 'T', 'R', 0},
	Name:  "tier header",
}

type header struct {
	slots uint64
	uuid  [16]byte
}

func (h header) marshal() []byte {
	b := make([]byte, HeaderSize)
	headerKind.Encode(b, imghdr.Header{Version: headerVersion, Unit: SlotSize, Count: h.slots, UUID: h.uuid})
	return b
}

// unmarshalHeader decodes b (at least hdrLen bytes). zero reports an
// unformatted (all-zero) header.
func unmarshalHeader(b []byte) (h header, zero bool, err error) {
	if len(b) >= hdrLen && imghdr.IsZero(b) {
		return header{}, true, nil
	}
	d, err := headerKind.Decode(b)
	if err != nil {
		return header{}, false, err
	}
	if d.Version != headerVersion {
		return header{}, false, fmt.Errorf("tier header version %d, this brick reads %d: %w", d.Version, headerVersion, imghdr.ErrVersion)
	}
	if d.Unit != SlotSize {
		return header{}, false, fmt.Errorf("tier header slot size %d, want %d: %w", d.Unit, SlotSize, imghdr.ErrGeometry)
	}
	if d.Count == 0 || d.Count > maxSlots {
		return header{}, false, fmt.Errorf("tier header says %d slots: %w", d.Count, imghdr.ErrGeometry)
	}
	return header{slots: d.Count, uuid: d.UUID}, false, nil
}
