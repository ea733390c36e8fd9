package store

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	bolt "go.etcd.io/bbolt"
)

// t0 is the fake clock's first reading; each write advances it by a second.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// tick returns a clock that reads t0, t0+1s, t0+2s, … on successive calls.
func tick() func() time.Time {
	var n atomic.Int64
	return func() time.Time { return t0.Add(time.Duration(n.Add(1)-1) * time.Second) }
}

func openTest(t *testing.T, dir string) *Store {
	t.Helper()
	s, err := Open(t.Context(), dir, nil)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	s.now = tick()
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestCRUD(t *testing.T) {
	ctx := t.Context()
	s := openTest(t, t.TempDir())

	// Revisions come from one store-wide counter: 1, 2, 3 in write order,
	// and Updated advances one fake second per write.
	a1, err := s.Create(ctx, "ingest", []byte(`{"name":"ingest","v":1}`))
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	b1, err := s.Put(ctx, "ocr", []byte(`{"name":"ocr"}`), 0)
	if err != nil {
		t.Fatalf("Put new: %v", err)
	}
	a2, err := s.Put(ctx, "ingest", []byte(`{"name":"ingest","v":2}`), 0)
	if err != nil {
		t.Fatalf("Put replace: %v", err)
	}
	want := []Record{
		{Name: "ingest", Spec: []byte(`{"name":"ingest","v":1}`), Revision: 1, Updated: t0},
		{Name: "ocr", Spec: []byte(`{"name":"ocr"}`), Revision: 2, Updated: t0.Add(time.Second)},
		{Name: "ingest", Spec: []byte(`{"name":"ingest","v":2}`), Revision: 3, Updated: t0.Add(2 * time.Second)},
	}
	if diff := cmp.Diff(want, []Record{a1, b1, a2}); diff != "" {
		t.Errorf("returned records (-want +got):\n%s", diff)
	}

	got, err := s.Get(ctx, "ingest")
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if diff := cmp.Diff(a2, got); diff != "" {
		t.Errorf("Get (-want +got):\n%s", diff)
	}

	list, err := s.List(ctx)
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if diff := cmp.Diff([]Record{a2, b1}, list); diff != "" {
		t.Errorf("List, sorted by name (-want +got):\n%s", diff)
	}

	if err := s.Delete(ctx, "ocr"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := s.Get(ctx, "ocr"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get after Delete: err = %v, want ErrNotFound", err)
	}
	if err := s.Delete(ctx, "ocr"); !errors.Is(err, ErrNotFound) {
		t.Errorf("second Delete: err = %v, want ErrNotFound", err)
	}
	list, err = s.List(ctx)
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if diff := cmp.Diff([]Record{a2}, list); diff != "" {
		t.Errorf("List after Delete (-want +got):\n%s", diff)
	}
}

func TestListEmptyIsNotNil(t *testing.T) {
	s := openTest(t, t.TempDir())
	list, err := s.List(t.Context())
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if list == nil || len(list) != 0 {
		t.Errorf("List on empty store = %#v, want empty non-nil slice", list)
	}
}

func TestPutIfRevision(t *testing.T) {
	// Each case starts from a fresh store holding "p" at revision 1.
	tests := []struct {
		name       string
		put        string // pipeline to put
		ifRevision uint64
		wantErr    error
		wantRev    uint64 // revision of the stored "p" afterwards
	}{
		{name: "unconditional", put: "p", ifRevision: 0, wantRev: 2},
		{name: "current revision", put: "p", ifRevision: 1, wantRev: 2},
		{name: "stale revision", put: "p", ifRevision: 7, wantErr: ErrConflict, wantRev: 1},
		{name: "absent with revision", put: "q", ifRevision: 1, wantErr: ErrConflict, wantRev: 1},
		{name: "absent unconditional", put: "q", ifRevision: 0, wantRev: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			s := openTest(t, t.TempDir())
			if _, err := s.Put(ctx, "p", []byte(`{"v":"old"}`), 0); err != nil {
				t.Fatalf("seed Put: %v", err)
			}
			_, err := s.Put(ctx, tc.put, []byte(`{"v":"new"}`), tc.ifRevision)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Put(%q, ifRevision=%d): err = %v, want %v", tc.put, tc.ifRevision, err, tc.wantErr)
			}
			got, err := s.Get(ctx, "p")
			if err != nil {
				t.Fatalf("Get: %v", err)
			}
			if got.Revision != tc.wantRev {
				t.Errorf("revision of p = %d, want %d", got.Revision, tc.wantRev)
			}
			_, err = s.Get(ctx, "q")
			if qStored := err == nil; qStored != (tc.put == "q" && tc.wantErr == nil) {
				t.Errorf("q stored = %v after Put (err %v)", qStored, err)
			}
		})
	}
}

func TestCreateExists(t *testing.T) {
	ctx := t.Context()
	s := openTest(t, t.TempDir())
	first, err := s.Create(ctx, "p", []byte(`{"v":1}`))
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	if _, err := s.Create(ctx, "p", []byte(`{"v":2}`)); !errors.Is(err, ErrExists) {
		t.Fatalf("second Create: err = %v, want ErrExists", err)
	}
	got, err := s.Get(ctx, "p")
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if diff := cmp.Diff(first, got); diff != "" {
		t.Errorf("failed Create changed the record (-want +got):\n%s", diff)
	}
}

func TestReopenKeepsEverything(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()

	s, err := Open(ctx, dir, nil)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	for _, name := range []string{"c", "a", "b"} {
		if _, err := s.Put(ctx, name, []byte(fmt.Sprintf(`{"name":%q}`, name)), 0); err != nil {
			t.Fatalf("Put %s: %v", name, err)
		}
	}
	if err := s.Delete(ctx, "b"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	before, err := s.List(ctx)
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	s = openTest(t, dir)
	after, err := s.List(ctx)
	if err != nil {
		t.Fatalf("List after reopen: %v", err)
	}
	if diff := cmp.Diff(before, after); diff != "" {
		t.Errorf("records across restart (-want +got):\n%s", diff)
	}
	if len(after) != 2 {
		t.Errorf("got %d records after reopen, want 2 (a, c)", len(after))
	}

	// Three puts before the restart used revisions 1–3; the counter is
	// durable, so the next write gets 4 rather than starting over.
	rec, err := s.Put(ctx, "d", []byte(`{}`), 0)
	if err != nil {
		t.Fatalf("Put after reopen: %v", err)
	}
	if rec.Revision != 4 {
		t.Errorf("first revision after reopen = %d, want 4", rec.Revision)
	}
}

func TestLocked(t *testing.T) {
	dir := t.TempDir()
	first := openTest(t, dir)

	t.Run("short lock timeout", func(t *testing.T) {
		start := time.Now()
		s, err := open(t.Context(), dir, nil, 100*time.Millisecond)
		if err == nil {
			_ = s.Close()
		}
		if !errors.Is(err, ErrLocked) {
			t.Fatalf("second open: err = %v, want ErrLocked", err)
		}
		if took := time.Since(start); took > 5*time.Second {
			t.Errorf("second open took %s, want about 100ms", took)
		}
	})

	t.Run("ctx deadline shortens the wait", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
		defer cancel()
		s, err := Open(ctx, dir, nil)
		if err == nil {
			_ = s.Close()
		}
		if !errors.Is(err, ErrLocked) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("second Open: err = %v, want ErrLocked and DeadlineExceeded", err)
		}
	})

	t.Run("default timeout fails fast", func(t *testing.T) {
		s, err := Open(t.Context(), dir, nil)
		if err == nil {
			_ = s.Close()
		}
		if !errors.Is(err, ErrLocked) {
			t.Fatalf("second Open: err = %v, want ErrLocked", err)
		}
		if errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("err = %v: no ctx deadline was set, so it must not claim one", err)
		}
	})

	if err := first.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	s, err := open(t.Context(), dir, nil, 100*time.Millisecond)
	if err != nil {
		t.Fatalf("open after the holder closed: %v", err)
	}
	_ = s.Close()
}

func TestInvalidNames(t *testing.T) {
	tests := []struct {
		name    string
		input   string
		wantErr error
	}{
		{name: "simple", input: "ingest"},
		{name: "all allowed bytes", input: "Aa0_.-z"},
		{name: "dot inside", input: "ocr.v2"},
		{name: "leading dash", input: "-x"},
		{name: "max length", input: strings.Repeat("a", 128)},
		{name: "too long", input: strings.Repeat("a", 129), wantErr: ErrInvalidName},
		{name: "empty", input: "", wantErr: ErrInvalidName},
		{name: "leading dot", input: ".hidden", wantErr: ErrInvalidName},
		{name: "dotdot", input: "..", wantErr: ErrInvalidName},
		{name: "slash", input: "a/b", wantErr: ErrInvalidName},
		{name: "space", input: "a b", wantErr: ErrInvalidName},
		{name: "non-ascii", input: "café", wantErr: ErrInvalidName},
		{name: "nul", input: "a\x00", wantErr: ErrInvalidName},
		{name: "colon", input: "a:b", wantErr: ErrInvalidName},
	}
	ctx := t.Context()
	s := openTest(t, t.TempDir())
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := ValidateName(tc.input); !errors.Is(err, tc.wantErr) {
				t.Errorf("ValidateName(%q) = %v, want %v", tc.input, err, tc.wantErr)
			}
			if tc.wantErr == nil {
				return
			}
			// Every entry point checks the name before touching the file.
			if _, err := s.Put(ctx, tc.input, []byte(`{}`), 0); !errors.Is(err, tc.wantErr) {
				t.Errorf("Put: err = %v, want %v", err, tc.wantErr)
			}
			if _, err := s.Create(ctx, tc.input, []byte(`{}`)); !errors.Is(err, tc.wantErr) {
				t.Errorf("Create: err = %v, want %v", err, tc.wantErr)
			}
			if _, err := s.Get(ctx, tc.input); !errors.Is(err, tc.wantErr) {
				t.Errorf("Get: err = %v, want %v", err, tc.wantErr)
			}
			if err := s.Delete(ctx, tc.input); !errors.Is(err, tc.wantErr) {
				t.Errorf("Delete: err = %v, want %v", err, tc.wantErr)
			}
		})
	}
	list, err := s.List(ctx)
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if len(list) != 0 {
		t.Errorf("invalid names left %d records", len(list))
	}
}

func TestSpecs(t *testing.T) {
	tests := []struct {
		name     string
		spec     string
		wantSpec string
		wantErr  error
	}{
		{name: "object", spec: `{"a":1}`, wantSpec: `{"a":1}`},
		{name: "whitespace is compacted", spec: "{ \"a\" : [1, 2],\n \"b\": \"x y\" }\n", wantSpec: `{"a":[1,2],"b":"x y"}`},
		{name: "empty", spec: ``, wantErr: ErrInvalidSpec},
		{name: "not json", spec: `name: x`, wantErr: ErrInvalidSpec},
		{name: "truncated", spec: `{"a":`, wantErr: ErrInvalidSpec},
	}
	ctx := t.Context()
	s := openTest(t, t.TempDir())
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec, err := s.Put(ctx, "p", []byte(tc.spec), 0)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Put: err = %v, want %v", err, tc.wantErr)
			}
			if tc.wantErr != nil {
				return
			}
			got, err := s.Get(ctx, "p")
			if err != nil {
				t.Fatalf("Get: %v", err)
			}
			if diff := cmp.Diff(tc.wantSpec, string(got.Spec)); diff != "" {
				t.Errorf("stored spec (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(got, rec); diff != "" {
				t.Errorf("Put's record differs from Get's (-get +put):\n%s", diff)
			}
		})
	}
}

func TestSchema(t *testing.T) {
	tests := []struct {
		name    string
		prepare func(tx *bolt.Tx) error // builds the file before Open; nil leaves no file
		wantErr error
	}{
		{name: "new file"},
		{
			name: "current version",
			prepare: func(tx *bolt.Tx) error {
				b, err := tx.CreateBucket(bucketMeta)
				if err != nil {
					return err
				}
				return b.Put(keySchema, []byte("1"))
			},
		},
		{
			name: "newer version",
			prepare: func(tx *bolt.Tx) error {
				b, err := tx.CreateBucket(bucketMeta)
				if err != nil {
					return err
				}
				return b.Put(keySchema, []byte("2"))
			},
			wantErr: ErrSchema,
		},
		{
			name: "garbled version",
			prepare: func(tx *bolt.Tx) error {
				b, err := tx.CreateBucket(bucketMeta)
				if err != nil {
					return err
				}
				return b.Put(keySchema, []byte("one"))
			},
			wantErr: ErrSchema,
		},
		{
			name: "missing version",
			prepare: func(tx *bolt.Tx) error {
				_, err := tx.CreateBucket(bucketMeta)
				return err
			},
			wantErr: ErrSchema,
		},
		{
			name: "foreign bolt file",
			prepare: func(tx *bolt.Tx) error {
				_, err := tx.CreateBucket([]byte("widgets"))
				return err
			},
			wantErr: ErrSchema,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if tc.prepare != nil {
				db, err := bolt.Open(filepath.Join(dir, FileName), 0o600, nil)
				if err != nil {
					t.Fatal(err)
				}
				if err := db.Update(tc.prepare); err != nil {
					t.Fatal(err)
				}
				if err := db.Close(); err != nil {
					t.Fatal(err)
				}
			}
			s, err := Open(t.Context(), dir, nil)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Open: err = %v, want %v", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			defer s.Close()
			// An accepted file is usable and carries the current version.
			if _, err := s.Put(t.Context(), "p", []byte(`{}`), 0); err != nil {
				t.Errorf("Put: %v", err)
			}
			var version string
			if err := s.db.View(func(tx *bolt.Tx) error {
				version = string(tx.Bucket(bucketMeta).Get(keySchema))
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if version != "1" {
				t.Errorf("schema version = %q, want \"1\"", version)
			}
		})
	}
}

func TestConcurrentPuts(t *testing.T) {
	ctx := t.Context()
	s := openTest(t, t.TempDir())
	if _, err := s.Create(ctx, "counter", []byte(`{"n":0}`)); err != nil {
		t.Fatal(err)
	}

	// Each worker increments a shared counter by read-modify-write guarded
	// by ifRevision, retrying on ErrConflict. A lost update (a Put that
	// succeeded against a stale revision) would leave n below
	// workers*increments = 8*25 = 200.
	const workers, increments = 8, 25
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		revs = map[uint64]bool{}
		errs = make(chan error, workers)
	)
	for w := range workers {
		wg.Go(func() {
			for range increments {
				for {
					cur, err := s.Get(ctx, "counter")
					if err != nil {
						errs <- err
						return
					}
					var n int
					if _, err := fmt.Sscanf(string(cur.Spec), `{"n":%d}`, &n); err != nil {
						errs <- err
						return
					}
					rec, err := s.Put(ctx, "counter", []byte(fmt.Sprintf(`{"n":%d}`, n+1)), cur.Revision)
					if errors.Is(err, ErrConflict) {
						continue
					}
					if err != nil {
						errs <- err
						return
					}
					mu.Lock()
					revs[rec.Revision] = true
					mu.Unlock()
					break
				}
				// Unconditional writes to a name of its own interleave with
				// the counter and draw from the same revision counter.
				rec, err := s.Put(ctx, fmt.Sprintf("worker-%d", w), []byte(`{}`), 0)
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				revs[rec.Revision] = true
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("worker: %v", err)
	}

	got, err := s.Get(ctx, "counter")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(fmt.Sprintf(`{"n":%d}`, workers*increments), string(got.Spec)); diff != "" {
		t.Errorf("counter (-want +got):\n%s", diff)
	}
	// 2 successful puts per increment, each with its own revision, after
	// the Create's revision 1: revisions 2..401, no duplicates.
	if want := 2 * workers * increments; len(revs) != want {
		t.Errorf("got %d distinct revisions, want %d", len(revs), want)
	}
	if want := uint64(2*workers*increments + 1); got.Revision > want || !revs[got.Revision] {
		t.Errorf("counter revision %d not among the returned revisions ≤ %d", got.Revision, want)
	}
}

func TestContextAndClose(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(t.Context(), dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(t.Context(), "p", []byte(`{}`), 0); err != nil {
		t.Fatal(err)
	}

	cancelled, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := s.Put(cancelled, "q", []byte(`{}`), 0); !errors.Is(err, context.Canceled) {
		t.Errorf("Put with cancelled ctx: err = %v, want context.Canceled", err)
	}
	if _, err := s.Get(cancelled, "p"); !errors.Is(err, context.Canceled) {
		t.Errorf("Get with cancelled ctx: err = %v, want context.Canceled", err)
	}
	if err := s.Delete(cancelled, "p"); !errors.Is(err, context.Canceled) {
		t.Errorf("Delete with cancelled ctx: err = %v, want context.Canceled", err)
	}
	if _, err := Open(cancelled, t.TempDir(), nil); !errors.Is(err, context.Canceled) {
		t.Errorf("Open with cancelled ctx: err = %v, want context.Canceled", err)
	}
	if _, err := s.Get(t.Context(), "q"); !errors.Is(err, ErrNotFound) {
		t.Errorf("cancelled Put stored q: Get err = %v", err)
	}

	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(t.Context(), "p"); !errors.Is(err, ErrClosed) {
		t.Errorf("Get after Close: err = %v, want ErrClosed", err)
	}
	if _, err := s.Put(t.Context(), "p", []byte(`{}`), 0); !errors.Is(err, ErrClosed) {
		t.Errorf("Put after Close: err = %v, want ErrClosed", err)
	}
	if _, err := s.List(t.Context()); !errors.Is(err, ErrClosed) {
		t.Errorf("List after Close: err = %v, want ErrClosed", err)
	}
}
