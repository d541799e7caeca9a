package pmem

// Header is the decoded superblock of an image that a region keeps in
// ordinary memory instead of a mapping (the power-fail simulator in
// pmem/powerfail): with it such a region formats, validates and binds its
// image exactly as the mapped backends do.
type Header struct{ sb superblock }

// FormatImage validates the superblock at the start of img, whose length is
// the image size, formatting an all-zero header with a fresh UUID first.
// The caller makes a fresh header durable.
func FormatImage(img []byte) (*Header, error) {
	sb, _, err := formatOrValidate(img, int64(len(img)), true)
	if err != nil {
		return nil, err
	}
	return &Header{sb: sb}, nil
}

// Frames is the number of data frames the header records.
func (h *Header) Frames() uint64 { return h.sb.frames }

// UUID is the image's identity.
func (h *Header) UUID() [16]byte { return h.sb.uuid }

// Binding is Region.Binding for the image.
func (h *Header) Binding() (Binding, bool) {
	return h.sb.binding, h.sb.version >= superblockVersion
}

// Bind is Region.Bind for img, the image the header was read from: each
// step is made durable with flush.
func (h *Header) Bind(img []byte, b Binding, flush func([]byte) error) error {
	return h.sb.bind(img, b, flush)
}
