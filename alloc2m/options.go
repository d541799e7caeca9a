package alloc2m

import "github.com/cockroachdb/pebble/v2"

// PebbleOptions returns the options a writable metadata store opens Pebble
// with, less what belongs to one open (file system, directory lock, logger,
// event listener). The raw Pebble baseline of `make bench` opens its
// database with them, so that "as fast as Pebble allows" means this Pebble,
// configured like this.
func PebbleOptions() *pebble.Options {
	o := &pebble.Options{}
	setWritable(o)
	return o
}

// setWritable sets the options of a writable open. New stores get the
// newest format (which writes the WAL sync chunks checkWALs relies on);
// existing ones are ratcheted.
func setWritable(o *pebble.Options) {
	o.FormatMajorVersion = pebble.FormatNewest
}
