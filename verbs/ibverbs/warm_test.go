//go:build ibverbs

package ibverbs

func init() { warmup = warmCM }
