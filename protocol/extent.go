package protocol

// Coalesce appends e to extents, merging it into the last extent when it
// continues it: the same state, starting at the block right after it. It
// reports false, appending nothing, when e would start a new extent and
// extents already holds max of them (max ≤ 0: no limit). The brick builds
// a List reply with it block by block, the client joins a run split across
// two replies with it, and `brickctl list --meta` uses it offline.
func Coalesce(extents []Extent, e Extent, max int) ([]Extent, bool) {
	if n := len(extents); n > 0 {
		last := &extents[n-1]
		if last.State == e.State && last.First+last.Blocks*BlockSize == e.First {
			last.Blocks += e.Blocks
			return extents, true
		}
		if max > 0 && n >= max {
			return extents, false
		}
	}
	return append(extents, e), true
}
