package powerfail

// span is a half-open byte range [start, end) of a region with a tag: 0 is
// "cached", k > 0 is "posted by tracker k". Bytes in no span are persistent.
type span struct {
	start, end int64
	tag        uint32
}

// spanSet is a sorted list of non-overlapping spans, adjacent spans with
// the same tag merged. Every operation is linear in the number of spans,
// which stays small: it is the number of distinct unflushed ranges.
type spanSet struct {
	s []span
}

// assign gives [a, b) the tag, replacing whatever was there.
func (m *spanSet) assign(a, b int64, tag uint32) {
	if a >= b {
		return
	}
	out := make([]span, 0, len(m.s)+2)
	placed := false
	for _, sp := range m.s {
		if sp.end <= a {
			out = append(out, sp)
			continue
		}
		if sp.start >= b {
			if !placed {
				out = append(out, span{a, b, tag})
				placed = true
			}
			out = append(out, sp)
			continue
		}
		if sp.start < a {
			out = append(out, span{sp.start, a, sp.tag})
		}
		if !placed {
			out = append(out, span{a, b, tag})
			placed = true
		}
		if sp.end > b {
			out = append(out, span{b, sp.end, sp.tag})
		}
	}
	if !placed {
		out = append(out, span{a, b, tag})
	}
	m.s = merge(out)
}

// transform calls fn for every piece of a span inside [a, b) whose tag
// match accepts; fn returns the piece's new tag, or keep=false to drop it
// (the bytes become persistent). Pieces outside [a, b) or not matched are
// untouched.
func (m *spanSet) transform(a, b int64, match func(tag uint32) bool, fn func(start, end int64, tag uint32) (newTag uint32, keep bool)) {
	if a >= b || len(m.s) == 0 {
		return
	}
	out := make([]span, 0, len(m.s)+2)
	for _, sp := range m.s {
		if sp.end <= a || sp.start >= b || !match(sp.tag) {
			out = append(out, sp)
			continue
		}
		if sp.start < a {
			out = append(out, span{sp.start, a, sp.tag})
		}
		s, e := max(sp.start, a), min(sp.end, b)
		if tag, keep := fn(s, e, sp.tag); keep {
			out = append(out, span{s, e, tag})
		}
		if sp.end > b {
			out = append(out, span{b, sp.end, sp.tag})
		}
	}
	m.s = merge(out)
}

// at returns the tag at offset off and whether off is in a span.
func (m *spanSet) at(off int64) (uint32, bool) {
	lo, hi := 0, len(m.s)
	for lo < hi {
		mid := (lo + hi) / 2
		switch {
		case m.s[mid].end <= off:
			lo = mid + 1
		case m.s[mid].start > off:
			hi = mid
		default:
			return m.s[mid].tag, true
		}
	}
	return 0, false
}

// merge joins adjacent spans with the same tag, in place.
func merge(s []span) []span {
	if len(s) < 2 {
		return s
	}
	out := s[:1]
	for _, sp := range s[1:] {
		last := &out[len(out)-1]
		if last.end == sp.start && last.tag == sp.tag {
			last.end = sp.end
			continue
		}
		out = append(out, sp)
	}
	return out
}
