package store

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	"go.etcd.io/bbolt"
)

// App is a local program allowed to use the daemon's reverse proxy for one MCP server: its
// name (the path segment it is reached under), the server's URL, and its key, which the app
// presents on every request. The key is a secret: the whole record is stored sealed in the
// secrets bucket under "app:"+Name, so listing apps needs the data key too.
type App struct {
	Name      string    `json:"name"`
	Server    string    `json:"server"`
	Account   string    `json:"account,omitempty"` // the server's account the app gets ("": its default)
	Key       string    `json:"key"`
	CreatedAt time.Time `json:"created_at,omitzero"` // set to now by PutApp if zero
}

const appPrefix = "app:"

func appKey(name string) []byte { return []byte(appPrefix + name) }

// PutApp creates or replaces the app app.Name, sealed. It does not modify *app.
func (s *Store) PutApp(app *App) error {
	if app.Name == "" || app.Server == "" || app.Key == "" {
		return errors.New("store: an app needs a name, a server and a key")
	}
	key, err := s.dataKey(true)
	if err != nil {
		return err
	}
	rec := *app
	if rec.CreatedAt.IsZero() {
		rec.CreatedAt = time.Now()
	}
	return s.db.Update(func(tx *bbolt.Tx) error { return putSealed(tx, key, appKey(app.Name), &rec) })
}

// ListApps returns every app, ordered by name, keys included.
func (s *Store) ListApps() ([]*App, error) {
	type blob struct{ k, v []byte }
	var blobs []blob
	err := s.db.View(func(tx *bbolt.Tx) error {
		c := tx.Bucket(bucketSecrets).Cursor()
		p := []byte(appPrefix)
		for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
			blobs = append(blobs, blob{bytes.Clone(k), bytes.Clone(v)})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := make([]*App, 0, len(blobs))
	for _, b := range blobs {
		var app App
		if err := s.openSealed(b.k, b.v, &app); err != nil {
			return nil, err
		}
		out = append(out, &app)
	}
	return out, nil
}

// DeleteApp deletes the app name (ErrNotFound, changing nothing, if there is none). It does not
// need the data key.
func (s *Store) DeleteApp(name string) error {
	return s.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketSecrets)
		if b.Get(appKey(name)) == nil {
			return fmt.Errorf("store: app %s: %w", name, ErrNotFound)
		}
		return b.Delete(appKey(name))
	})
}
