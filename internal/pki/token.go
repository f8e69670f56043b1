package pki

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/vigil-ids/vigil/internal/clock"
)

// DefaultTokenTTL is how long an enrolment token stays valid by default.
const DefaultTokenTTL = time.Hour

// tokenBytes is the size of a token's random value; a token is its
// unpadded base64url text (tokenLen characters).
const (
	tokenBytes = 32
	tokenLen   = 43
)

// Why a token is refused.
var (
	ErrTokenUnknown = errors.New("enrolment token unknown")
	ErrTokenExpired = errors.New("enrolment token expired")
	ErrTokenUsed    = errors.New("enrolment token already used")
)

// A Token is what the token file keeps of an enrolment token: never the
// token itself, only its SHA-256.
type Token struct {
	Hash    string    `json:"sha256"` // hex SHA-256 of the token text
	Role    Role      `json:"role"`
	Name    string    `json:"name"`
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires"`
	Used    time.Time `json:"used,omitzero"`
}

// ID is a short, non-secret handle of a token for logs: the first 12 hex
// digits of its hash (which reveals nothing of the token).
func (t Token) ID() string { return t.Hash[:12] }

// TokenID is ID for a token text: what logs show of a token presented.
func TokenID(token string) string { return hashToken(token)[:12] }

func hashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// A TokenStore keeps enrolment tokens in a file (mode 0600, replaced
// atomically), under an exclusive lock on a file beside it, so that the
// verb that makes tokens and the enrolment server may run at once, and a
// token is redeemed at most once even by two servers.
type TokenStore struct {
	Path  string
	Clock clock.Clock // the wall clock when nil
}

func (s *TokenStore) now() time.Time {
	if s.Clock == nil {
		return time.Now()
	}
	return s.Clock.Now()
}

// Create makes a token for role and name, valid for ttl
// (DefaultTokenTTL when zero), and returns its text: the only time the
// text exists outside the enrolling host.
func (s *TokenStore) Create(role Role, name string, ttl time.Duration) (string, Token, error) {
	if _, err := ParseRole(string(role)); err != nil {
		return "", Token{}, fmt.Errorf("enrolment token: %w", err)
	}
	if err := ValidateName(name); err != nil {
		return "", Token{}, fmt.Errorf("enrolment token: %w", err)
	}
	if ttl <= 0 {
		ttl = DefaultTokenTTL
	}
	var b [tokenBytes]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", Token{}, fmt.Errorf("enrolment token: %w", err)
	}
	text := base64.RawURLEncoding.EncodeToString(b[:])
	now := s.now().UTC()
	tok := Token{Hash: hashToken(text), Role: role, Name: name, Created: now, Expires: now.Add(ttl)}
	err := s.update(func(ts []Token) ([]Token, error) {
		// Expired tokens are dropped as new ones come: they can never be
		// used, and the file stays small.
		kept := ts[:0]
		for _, t := range ts {
			if now.Before(t.Expires.Add(24 * time.Hour)) {
				kept = append(kept, t)
			}
		}
		return append(kept, tok), nil
	})
	if err != nil {
		return "", Token{}, err
	}
	return text, tok, nil
}

// Redeem checks the token text (known, not expired, not used), runs use
// with what the token allows, and, when use succeeds, marks the token used
// before returning. The whole happens under the store's lock, so a token
// is redeemed at most once. A token whose use fails stays unused.
func (s *TokenStore) Redeem(text string, use func(Token) error) (Token, error) {
	var found Token
	err := s.update(func(ts []Token) ([]Token, error) {
		h := hashToken(text)
		for i := range ts {
			if ts[i].Hash != h {
				continue
			}
			found = ts[i]
			if !ts[i].Used.IsZero() {
				return nil, fmt.Errorf("%w (token %s, for %q, used %s)", ErrTokenUsed, found.ID(), found.Name, found.Used.Format(time.RFC3339))
			}
			if now := s.now(); !now.Before(ts[i].Expires) {
				return nil, fmt.Errorf("%w (token %s, for %q, expired %s)", ErrTokenExpired, found.ID(), found.Name, found.Expires.Format(time.RFC3339))
			}
			if err := use(found); err != nil {
				return nil, err
			}
			ts[i].Used = s.now().UTC()
			found = ts[i]
			return ts, nil
		}
		return nil, fmt.Errorf("%w (token %s)", ErrTokenUnknown, TokenID(text))
	})
	return found, err
}

// List returns the tokens in the file.
func (s *TokenStore) List() ([]Token, error) {
	var out []Token
	err := s.update(func(ts []Token) ([]Token, error) {
		out = append(out, ts...)
		return nil, nil
	})
	return out, err
}

// update runs f on the tokens under the lock and writes what it returns
// (nothing when it returns nil).
func (s *TokenStore) update(f func([]Token) ([]Token, error)) error {
	lock, err := os.OpenFile(s.Path+".lock", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("enrolment tokens: %w", err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return fmt.Errorf("enrolment tokens: locking %s: %w", lock.Name(), err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	ts, err := s.read()
	if err != nil {
		return err
	}
	out, err := f(ts)
	if err != nil || out == nil {
		return err
	}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return fmt.Errorf("enrolment tokens: %w", err)
	}
	if err := WriteFileAtomic(s.Path, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("enrolment tokens: %w", err)
	}
	return nil
}

// maxTokenFile bounds the token file.
const maxTokenFile = 16 << 20

func (s *TokenStore) read() ([]Token, error) {
	b, err := readLimited(s.Path, maxTokenFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("enrolment tokens: %s: %w", s.Path, err)
	}
	if err := checkPrivate(s.Path); err != nil {
		return nil, err
	}
	var ts []Token
	if err := json.Unmarshal(b, &ts); err != nil {
		return nil, fmt.Errorf("enrolment tokens: %s: not a token file: %w", s.Path, err)
	}
	for i, t := range ts {
		if len(t.Hash) != 2*sha256.Size {
			return nil, fmt.Errorf("enrolment tokens: %s: entry %d has no SHA-256", s.Path, i)
		}
	}
	return ts, nil
}

// Tokens is the token store of the PKI directory dir.
func Tokens(dir string, c clock.Clock) *TokenStore {
	return &TokenStore{Path: filepath.Join(dir, TokensFile), Clock: c}
}
