package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// Sentinels that errors returned by a Store wrap; check them with errors.Is.
var (
	// ErrNotFound means no pipeline has the requested name.
	ErrNotFound = errors.New("pipeline not found")
	// ErrExists means Create found a pipeline with the same name.
	ErrExists = errors.New("pipeline already exists")
	// ErrConflict means Put's ifRevision did not match the stored revision.
	ErrConflict = errors.New("revision conflict")
	// ErrLocked means another process (or another Store) holds the file lock.
	ErrLocked = errors.New("store locked by another process")
	// ErrSchema means the file's schema version is not one this code can read.
	ErrSchema = errors.New("unsupported store schema")
	// ErrInvalidName means a pipeline name breaks the naming rules (see ValidateName).
	ErrInvalidName = errors.New("invalid pipeline name")
	// ErrInvalidSpec means a spec is not a valid JSON document.
	ErrInvalidSpec = errors.New("invalid spec")
	// ErrClosed means the Store was used after Close.
	ErrClosed = errors.New("store closed")
)

const (
	// SchemaVersion is the on-disk layout this code writes and reads.
	SchemaVersion = 1

	// FileName is the name of the database file inside the directory given to Open.
	FileName = "baton.db"

	// MaxNameLen is the longest pipeline name accepted, in bytes.
	MaxNameLen = 128

	// lockTimeout bounds the wait for the file lock: another holder is a
	// deployment mistake to report, not a condition to wait out.
	lockTimeout = 2 * time.Second
)

var (
	bucketMeta      = []byte("meta")
	bucketPipelines = []byte("pipelines")
	keySchema       = []byte("schema_version")
)

// Store persists pipeline specs in a bbolt file; it is safe for concurrent use.
type Store struct {
	db     *bolt.DB
	logger *slog.Logger
	// now stamps Record.Updated; tests replace it to get exact times.
	now func() time.Time
}

// Record is one stored spec.
type Record struct {
	// Name is the pipeline name, the record's key.
	Name string
	// Spec is the JSON document as stored (compacted: insignificant whitespace removed).
	Spec []byte
	// Revision is the store-wide write counter at this record's last write (monotonic, never 0).
	Revision uint64
	// Updated is when the record was last written (UTC).
	Updated time.Time
}

// value is a record as encoded in the pipelines bucket.
type value struct {
	Spec     json.RawMessage `json:"spec"`
	Revision uint64          `json:"revision"`
	Updated  time.Time       `json:"updated"`
}

// Open opens (creating the directory and file if needed) <dir>/baton.db.
// If another process holds the file it fails with ErrLocked after about two
// seconds, or sooner if ctx's deadline comes first.
func Open(ctx context.Context, dir string, logger *slog.Logger) (*Store, error) {
	return open(ctx, dir, logger, lockTimeout)
}

func open(ctx context.Context, dir string, logger *slog.Logger, timeout time.Duration) (*Store, error) {
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	path := filepath.Join(dir, FileName)
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	// bbolt cannot be interrupted while it waits for the lock, so the
	// caller's deadline shortens the wait instead.
	shortened := false
	if dl, ok := ctx.Deadline(); ok {
		if left := time.Until(dl); left < timeout {
			timeout, shortened = left, true
		}
	}
	if timeout <= 0 { // bbolt treats 0 as "wait forever"
		return nil, fmt.Errorf("open store %s: %w", path, context.DeadlineExceeded)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: timeout})
	if errors.Is(err, berrors.ErrTimeout) {
		if shortened {
			return nil, fmt.Errorf("open store %s: %w: %w", path, ErrLocked, context.DeadlineExceeded)
		}
		return nil, fmt.Errorf("open store %s: %w (waited %s)", path, ErrLocked, timeout)
	}
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	if err := db.Update(initSchema); err != nil {
		_ = db.Close() // the schema error is the one to report
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	logger.Info("store opened", "path", path, "schema", SchemaVersion)
	return &Store{db: db, logger: logger, now: time.Now}, nil
}

// initSchema stamps a new file with SchemaVersion, or checks an existing
// file's version, and makes sure both buckets exist.
func initSchema(tx *bolt.Tx) error {
	meta := tx.Bucket(bucketMeta)
	if meta == nil {
		// A file with data but no meta bucket was not written by Baton.
		if err := tx.ForEach(func(name []byte, _ *bolt.Bucket) error {
			return fmt.Errorf("%w: bucket %q without a meta bucket", ErrSchema, name)
		}); err != nil {
			return err
		}
		var err error
		if meta, err = tx.CreateBucket(bucketMeta); err != nil {
			return err
		}
		if err := meta.Put(keySchema, []byte(strconv.Itoa(SchemaVersion))); err != nil {
			return err
		}
	}
	raw := meta.Get(keySchema)
	v, err := strconv.Atoi(string(raw))
	switch {
	case err != nil:
		return fmt.Errorf("%w: schema version %q", ErrSchema, raw)
	case v > SchemaVersion:
		return fmt.Errorf("%w: file has version %d, this build reads up to %d", ErrSchema, v, SchemaVersion)
	case v < 1:
		return fmt.Errorf("%w: schema version %d", ErrSchema, v)
	}
	_, err = tx.CreateBucketIfNotExists(bucketPipelines)
	return err
}

// Close releases the file and its lock; calls after Close fail with ErrClosed.
func (s *Store) Close() error {
	return s.db.Close()
}

// ValidateName reports whether name is a valid pipeline name: 1 to
// MaxNameLen bytes of [a-zA-Z0-9_.-], not starting with '.'.
func ValidateName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: empty", ErrInvalidName)
	case len(name) > MaxNameLen:
		return fmt.Errorf("%w: %d bytes, limit %d", ErrInvalidName, len(name), MaxNameLen)
	case name[0] == '.':
		return fmt.Errorf("%w %q: starts with '.'", ErrInvalidName, name)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		ok := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			c == '_' || c == '.' || c == '-'
		if !ok {
			return fmt.Errorf("%w %q: byte %q at %d not in [a-zA-Z0-9_.-]", ErrInvalidName, name, c, i)
		}
	}
	return nil
}

// Put creates or replaces the spec stored under name and returns the new
// record. If ifRevision is not 0 it must equal the stored revision, else
// Put fails with ErrConflict (also when name is absent).
func (s *Store) Put(ctx context.Context, name string, spec []byte, ifRevision uint64) (Record, error) {
	rec, err := s.write(ctx, name, spec, func(cur *value) error {
		switch {
		case ifRevision == 0:
			return nil
		case cur == nil:
			return fmt.Errorf("%w: want revision %d, pipeline absent", ErrConflict, ifRevision)
		case cur.Revision != ifRevision:
			return fmt.Errorf("%w: want revision %d, have %d", ErrConflict, ifRevision, cur.Revision)
		}
		return nil
	})
	if err != nil {
		return Record{}, fmt.Errorf("put pipeline %q: %w", name, err)
	}
	s.logger.DebugContext(ctx, "pipeline stored", "name", name, "revision", rec.Revision)
	return rec, nil
}

// Create stores spec under name, failing with ErrExists if name is taken.
func (s *Store) Create(ctx context.Context, name string, spec []byte) (Record, error) {
	rec, err := s.write(ctx, name, spec, func(cur *value) error {
		if cur != nil {
			return ErrExists
		}
		return nil
	})
	if err != nil {
		return Record{}, fmt.Errorf("create pipeline %q: %w", name, err)
	}
	s.logger.DebugContext(ctx, "pipeline created", "name", name, "revision", rec.Revision)
	return rec, nil
}

// write stores spec under name in one transaction after check approves the
// current value (nil when absent).
func (s *Store) write(ctx context.Context, name string, spec []byte, check func(cur *value) error) (Record, error) {
	if err := ValidateName(name); err != nil {
		return Record{}, err
	}
	if !json.Valid(spec) {
		return Record{}, fmt.Errorf("%w: not a JSON document", ErrInvalidSpec)
	}
	if err := ctx.Err(); err != nil {
		return Record{}, err
	}
	var out value
	err := s.db.Update(func(tx *bolt.Tx) error {
		// Writers queue for bbolt's lock; don't write for a caller who left.
		if err := ctx.Err(); err != nil {
			return err
		}
		b := tx.Bucket(bucketPipelines)
		cur, err := decode(b.Get([]byte(name)))
		if err != nil {
			return err
		}
		if err := check(cur); err != nil {
			return err
		}
		rev, err := tx.Bucket(bucketMeta).NextSequence()
		if err != nil {
			return err
		}
		out = value{Spec: spec, Revision: rev, Updated: s.now().UTC()}
		enc, err := json.Marshal(out)
		if err != nil {
			return err
		}
		// Read back what was encoded so the record matches what Get returns.
		stored, err := decode(enc)
		if err != nil {
			return err
		}
		out = *stored
		return b.Put([]byte(name), enc)
	})
	if err != nil {
		return Record{}, dbErr(err)
	}
	return out.record(name), nil
}

// Get returns the record stored under name, or ErrNotFound.
func (s *Store) Get(ctx context.Context, name string) (Record, error) {
	if err := ValidateName(name); err != nil {
		return Record{}, fmt.Errorf("get pipeline: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return Record{}, fmt.Errorf("get pipeline %q: %w", name, err)
	}
	var v *value
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		v, err = decode(tx.Bucket(bucketPipelines).Get([]byte(name)))
		return err
	})
	if err == nil && v == nil {
		err = ErrNotFound
	}
	if err != nil {
		return Record{}, fmt.Errorf("get pipeline %q: %w", name, dbErr(err))
	}
	return v.record(name), nil
}

// List returns every record sorted by name; it is empty, not nil, when the store is.
func (s *Store) List(ctx context.Context) ([]Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("list pipelines: %w", err)
	}
	out := []Record{}
	// bbolt iterates keys in byte order, which is name order for ASCII names.
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketPipelines).ForEach(func(k, raw []byte) error {
			v, err := decode(raw)
			if err != nil {
				return fmt.Errorf("pipeline %q: %w", k, err)
			}
			out = append(out, v.record(string(k)))
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list pipelines: %w", dbErr(err))
	}
	return out, nil
}

// Delete removes the record stored under name, or fails with ErrNotFound.
func (s *Store) Delete(ctx context.Context, name string) error {
	if err := ValidateName(name); err != nil {
		return fmt.Errorf("delete pipeline: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("delete pipeline %q: %w", name, err)
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		b := tx.Bucket(bucketPipelines)
		if b.Get([]byte(name)) == nil {
			return ErrNotFound
		}
		return b.Delete([]byte(name))
	})
	if err != nil {
		return fmt.Errorf("delete pipeline %q: %w", name, dbErr(err))
	}
	s.logger.DebugContext(ctx, "pipeline deleted", "name", name)
	return nil
}

// decode parses a stored value; nil raw (an absent key) gives nil. The
// result does not alias raw, which bbolt reclaims when the transaction ends.
func decode(raw []byte) (*value, error) {
	if raw == nil {
		return nil, nil
	}
	var v value
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, fmt.Errorf("decode stored value: %w", err)
	}
	return &v, nil
}

func (v *value) record(name string) Record {
	return Record{Name: name, Spec: []byte(v.Spec), Revision: v.Revision, Updated: v.Updated}
}

// dbErr maps bbolt's closed-database error onto ErrClosed.
func dbErr(err error) error {
	if errors.Is(err, berrors.ErrDatabaseNotOpen) {
		return ErrClosed
	}
	return err
}
