//go:build !amd64

package crc32c

// useFold is false: there is no folding code for this architecture.
var useFold = false

func fold(crc uint32, p []byte) uint32 { panic("crc32c: no fold on this architecture") }

func foldCopy(crc uint32, dst, p []byte) uint32 { panic("crc32c: no fold on this architecture") }
