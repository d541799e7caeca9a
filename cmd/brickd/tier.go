package main

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/brick-storage/brick/brick"
	bytesize "github.com/brick-storage/brick/internal/size"
	"github.com/brick-storage/brick/pmem"
	"github.com/brick-storage/brick/protocol"
	"github.com/brick-storage/brick/tier"
)

// tierFile is the tier's file name inside --tier.
const tierFile = "tier.img"

// openedTier is the slow tier, or nil without --tier; its methods accept
// nil so run needs no branches.
type openedTier struct{ *tier.Store }

// openTier opens or creates the tier named by --tier and --tier-size.
func openTier(c *call, region pmem.Region, log *slog.Logger) (*openedTier, error) {
	dir := c.String("tier")
	if dir == "" {
		return nil, nil
	}
	path := filepath.Join(dir, tierFile)
	size, err := bytesize.Parse(c.String("tier-size"))
	if err != nil {
		return nil, fmt.Errorf("--tier-size: %w", err)
	}
	if _, err := os.Stat(path); err == nil && !c.IsSet("tier-size") {
		size = 0 // an existing tier keeps its size
	}
	if size%tier.SlotSize != 0 {
		return nil, fmt.Errorf("--tier-size %s is not a whole number of 2 MiB slots", c.String("tier-size"))
	}
	st, err := tier.Open(path, tier.Options{Size: size, UUID: region.UUID()})
	if err != nil {
		return nil, err
	}
	log.Info("slow tier", "path", path, "slots", st.Slots(), "bytes", st.Bytes())
	return &openedTier{st}, nil
}

// A tiered block occupies one slot: the tier file's unit (tier knows
// nothing of blocks) must be the protocol's block.
const _ = uint(tier.SlotSize-protocol.BlockSize) + uint(protocol.BlockSize-tier.SlotSize)

// Slots is the tier's slot count, 0 without one.
func (t *openedTier) Slots() uint64 {
	if t == nil {
		return 0
	}
	return t.Store.Slots()
}

// brickTier is the tier for brick.Config: a nil interface without one.
func (t *openedTier) brickTier() brick.Tier {
	if t == nil {
		return nil
	}
	return t.Store
}

// Close closes the tier, if any.
func (t *openedTier) Close() error {
	if t == nil {
		return nil
	}
	return t.Store.Close()
}
