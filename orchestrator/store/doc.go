// Package store keeps Baton's pipeline specs on disk so that pipelines
// created through the admin API survive a restart.
//
// It owns one bbolt file, <dir>/baton.db, holding a "meta" bucket (schema
// version and the store-wide revision counter) and a "pipelines" bucket
// mapping a pipeline name to {spec, revision, updated}. Specs are opaque
// JSON documents: the caller owns their schema. Every write draws a new
// revision from one monotonic counter, so revisions order all writes in the
// store and serve as optimistic-concurrency tokens for Put.
//
// The file is locked by the process that opens it; a second Open fails fast
// with ErrLocked instead of waiting. A file written by a newer Baton (a
// higher schema version) is refused with ErrSchema rather than guessed at.
//
// It must not interpret specs (validation belongs to the orchestrator's
// admin API) nor keep any state outside the file.
package store
