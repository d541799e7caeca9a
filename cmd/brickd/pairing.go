package main

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/brick-storage/brick/alloc2m"
	"github.com/brick-storage/brick/pmem"
)

// A brick has two halves: the pmem image and the metadata store that maps
// its frames. Each vouches for the other: the superblock records the
// store's identity and generation (pmem.Binding), the store records the
// image's UUID. brickd never creates or formats one half while the other
// exists, and refuses, with what to do, every pairing that does not check
// out, before it writes anything to either.
//
// The generation moves at start (alloc2m.Open, then Bind) and at a clean
// stop (stopCleanly), never per verb: see alloc2m.Identity for what that
// catches and what it cannot.

// refusal is an error brickd prints as it is: a sentence saying what is
// wrong and what to do. It wraps the sentinel for errors.Is.
type refusal struct {
	msg string
	err error
}

func (r *refusal) Error() string { return r.msg }
func (r *refusal) Unwrap() error { return r.err }

// asSentence returns err, whose message already says what to do, as a
// sentence: without the sentinel's text at its end, with a full stop.
func asSentence(err, sentinel error) error {
	return &refusal{strings.TrimSuffix(err.Error(), ": "+sentinel.Error()) + ".", err}
}

// explainRegion turns a refused pmem open into a sentence.
func explainRegion(err error, image, meta string) error {
	switch {
	case errors.Is(err, pmem.ErrNoSpace):
		return asSentence(err, pmem.ErrNoSpace)
	case errors.Is(err, pmem.ErrNoImage):
		return &refusal{fmt.Sprintf("the pmem image %s does not exist, but the metadata store in %s maps blocks into it; restore the image, or move %s aside to start over with an empty brick.", image, meta, meta), err}
	case errors.Is(err, pmem.ErrUnformatted):
		return &refusal{fmt.Sprintf("the pmem image %s has no superblock (it was zeroed or replaced), but the metadata store in %s maps blocks into it; restore the image, or move %s aside to start over with an empty brick.", image, meta, meta), err}
	}
	return err
}

// checkStoreMissing refuses an image that holds blocks (or cannot say it
// does not) when there is no metadata store to map them, and anonymous
// memory, which holds none, when there is one.
func checkStoreMissing(region pmem.Region, metaExists bool, image, meta string) error {
	if region.Kind() == pmem.KindAnonymous {
		if metaExists {
			// Anonymous memory comes up empty: a store from an earlier run
			// maps blocks whose bytes went with that process.
			return &refusal{fmt.Sprintf("the pmem backend is anonymous memory, which starts empty at every start, but the metadata store in %s belongs to an earlier brick, whose blocks went with it; give --meta a new directory, or remove %s.",
				meta, meta), alloc2m.ErrUUIDMismatch}
		}
		return nil
	}
	if metaExists {
		return nil
	}
	b, recorded := region.Binding()
	switch {
	case b.Bound():
		return &refusal{fmt.Sprintf("the pmem image %s holds blocks mapped by metadata store %s, but %s has no metadata store; restore the metadata directory from a backup, or move the image aside to start over with an empty brick.",
			image, alloc2m.FormatUUID(b.Store), meta), alloc2m.ErrNoMetadata}
	case !recorded:
		return &refusal{fmt.Sprintf("the pmem image %s was made by an older brickd, which did not record whether it holds blocks, and %s has no metadata store; restore the metadata directory, or if the image holds nothing, move it aside to start over.",
			image, meta), alloc2m.ErrNoMetadata}
	}
	return nil
}

// expected is the store identity the region's superblock records.
func expected(region pmem.Region) alloc2m.Identity {
	b, _ := region.Binding()
	return alloc2m.Identity{ID: b.Store, Generation: b.Generation}
}

// explainStore turns a refused store open into a sentence.
func explainStore(err error, image, meta string) error {
	if errors.Is(err, alloc2m.ErrDiskFull) {
		return asSentence(err, alloc2m.ErrDiskFull)
	}
	for _, e := range []struct {
		sentinel   error
		what, todo string
	}{
		{alloc2m.ErrNoMetadata, "the metadata store in " + meta + " is missing or empty, but the pmem image " + image + " holds blocks it mapped",
			"restore the metadata directory from a backup, or move both aside to start over with an empty brick"},
		{alloc2m.ErrStoreMismatch, "the metadata store in " + meta + " is not the one the pmem image " + image + " was last used with",
			"point --meta at that image's own metadata directory, or restore it from a backup"},
		{alloc2m.ErrRolledBack, "the metadata store in " + meta + " and the pmem image " + image + " are from different points in time",
			"restore both from the same moment, or move both aside to start over with an empty brick"},
		{alloc2m.ErrUUIDMismatch, "the metadata store in " + meta + " belongs to another brick than the pmem image " + image,
			"point --meta at that image's own metadata directory"},
		{alloc2m.ErrCorrupt, "the metadata store in " + meta + " is damaged",
			"restore the metadata directory from a backup"},
	} {
		if errors.Is(err, e.sentinel) {
			return &refusal{e.what + ": " + strings.TrimSuffix(err.Error(), ": "+e.sentinel.Error()) + "; " + e.todo + ".", err}
		}
	}
	return err
}

// bind records the store's identity in the superblock, after the store
// has made it durable.
func bind(region pmem.Region, store *alloc2m.Store) error {
	id := store.Identity()
	if err := region.Bind(pmem.Binding{Store: id.ID, Generation: id.Generation}); err != nil {
		return fmt.Errorf("cannot record the metadata store in the pmem superblock: %w", err)
	}
	return nil
}

// stopCleanly moves the generation on at a clean stop, so that a copy of
// the store taken while brickd ran is refused from now on. A failure
// leaves the halves paired as they were (or the store one ahead, which the
// next start accepts), so it is only logged.
func stopCleanly(region pmem.Region, store *alloc2m.Store, log *slog.Logger) {
	if _, err := store.Advance(); err != nil {
		log.Warn("could not advance the metadata generation at stop", "err", err)
		return
	}
	if err := bind(region, store); err != nil {
		log.Warn("could not record the metadata generation at stop", "err", err)
	}
}
