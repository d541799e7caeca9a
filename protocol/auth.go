package protocol

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"os"
)

// Authentication: a pre-shared key, mutual challenge-response with
// HMAC-SHA256. The brick's hello reply carries its nonce; the client's
// first frame is an AuthRequest with its proof and its own nonce; the
// brick's AuthReply carries the brick's proof. Both proofs cover the same
// transcript (both nonces, the session's identity and its negotiated
// features) under different labels, so that neither can be replayed on
// another session or reflected back at its sender.
const (
	ProofSize = sha256.Size

	// MinKeySize and MaxKeySize bound a pre-shared key.
	MinKeySize = 16
	MaxKeySize = 4096

	clientLabel = "brick-auth-v1 client proof"
	brickLabel  = "brick-auth-v1 brick proof"
)

// Transcript is what both proofs cover: the hello reply's identity fields
// and both challenges.
type Transcript struct {
	Version     uint8
	Features    uint64
	SessionID   uint64
	UUID        [16]byte
	BrickNonce  [NonceSize]byte
	ClientNonce [NonceSize]byte
}

// TranscriptOf builds the transcript of a session from the brick's hello
// reply and the client's nonce.
func TranscriptOf(h *HelloReply, clientNonce [NonceSize]byte) Transcript {
	return Transcript{
		Version: h.Version, Features: h.Features, SessionID: h.SessionID, UUID: h.UUID,
		BrickNonce: h.Nonce, ClientNonce: clientNonce,
	}
}

// bytes is the transcript's encoding: version u8, features u64, session
// ID u64, UUID [16], brick nonce [32], client nonce [32] (97 bytes).
func (t *Transcript) bytes() []byte {
	b := make([]byte, 0, 1+8+8+16+2*NonceSize)
	b = append(b, t.Version)
	b = binary.BigEndian.AppendUint64(b, t.Features)
	b = binary.BigEndian.AppendUint64(b, t.SessionID)
	b = append(b, t.UUID[:]...)
	b = append(b, t.BrickNonce[:]...)
	return append(b, t.ClientNonce[:]...)
}

func proof(key []byte, label string, t *Transcript) [ProofSize]byte {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(label))
	mac.Write(t.bytes())
	var p [ProofSize]byte
	mac.Sum(p[:0])
	return p
}

// ClientProof is the client's proof of key over t.
func ClientProof(key []byte, t *Transcript) [ProofSize]byte { return proof(key, clientLabel, t) }

// BrickProof is the brick's proof of key over t.
func BrickProof(key []byte, t *Transcript) [ProofSize]byte { return proof(key, brickLabel, t) }

// ProofEqual compares two proofs in constant time.
func ProofEqual(a, b [ProofSize]byte) bool { return hmac.Equal(a[:], b[:]) }

// CheckKey reports whether key is usable as a pre-shared key.
func CheckKey(key []byte) error {
	if len(key) < MinKeySize || len(key) > MaxKeySize {
		return fmt.Errorf("%w: the key is %d bytes; use %d to %d (for example: head -c 32 /dev/urandom | base64 > key)",
			ErrKey, len(key), MinKeySize, MaxKeySize)
	}
	return nil
}

// ReadKeyFile reads a pre-shared key: the file's contents without one
// trailing newline. A key file that group or others can read is refused,
// like ssh refuses such a private key.
func ReadKeyFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKey, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKey, err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: %s is not a regular file", ErrKey, path)
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("%w: %s can be read by group or others (mode %#o); run chmod 600 %s", ErrKey, path, perm, path)
	}
	if st.Size() > MaxKeySize+2 {
		return nil, fmt.Errorf("%w: %s is %d bytes, more than a key (at most %d)", ErrKey, path, st.Size(), MaxKeySize)
	}
	key := make([]byte, st.Size())
	if _, err := f.ReadAt(key, 0); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKey, err)
	}
	key = bytes.TrimSuffix(key, []byte("\n"))
	key = bytes.TrimSuffix(key, []byte("\r"))
	if err := CheckKey(key); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return key, nil
}
