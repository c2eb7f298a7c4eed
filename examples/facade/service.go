package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/fhirsync/fhirsync"
	"github.com/fhirsync/fhirsync/fhirmap"
	"github.com/fhirsync/fhirsync/source/pgsource"
)

// shutdownTimeout bounds the draining of requests in flight at shutdown.
const shutdownTimeout = 10 * time.Second

// run serves the directory until ctx is done (it then returns nil) or the
// change stream or the HTTP server fails.
func run(ctx context.Context, cfg config) (err error) {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewJSONHandler(os.Stderr, nil))
	}
	if len(cfg.IDKey) == 0 {
		return errNoKey
	}
	m, err := fhirmap.NewMapper(nil, &fhirmap.Options{IDs: &fhirmap.IDOptions{Key: cfg.IDKey}})
	if err != nil {
		return err
	}

	db, err := newPool(cfg.DB, max(cfg.MaxConns, 1))
	if err != nil {
		return err
	}
	defer db.close(context.WithoutCancel(ctx))
	tab, err := lookupTable(ctx, db, cfg.Table, cfg.Columns.NPI)
	if err != nil {
		return err
	}
	if !tab.identityCoversNPI() {
		log.Warn("facade: the table's replica identity does not include the NPI column, so a deleted row's resources stay cached until -ttl; "+
			"run ALTER TABLE ... REPLICA IDENTITY FULL", slog.String("table", tab.String()))
	}
	// The lineage (meta.source) names the table: the operator's name, no PHI.
	pm, err := fhirmap.NewProviderMapper(m.WithSourceName("postgres:"+tab.String()), &fhirmap.ProviderOptions{Payer: cfg.Payer})
	if err != nil {
		return err
	}
	dir := newDirectory(db, tab, cfg.Columns, pm, log)

	// The stream starts before the index is built, so that no change made
	// meanwhile is missed (one the index already has is applied again:
	// a refresh reads the table, which is idempotent).
	slot := cfg.Slot
	if slot == "" {
		slot = "fhirsync_facade_" + randomHex(6)
	}
	src, err := pgsource.Open(ctx, cfg.DB, slot, cfg.Publication, &pgsource.Options{
		CreateSlot:        cfg.CreateSlot,
		TemporarySlot:     !cfg.PermanentSlot,
		CreatePublication: cfg.CreatePublication,
		PublicationTables: []string{tab.schema + "." + tab.name},
		Logger:            log,
	})
	if err != nil {
		return fmt.Errorf("change stream: %w", err)
	}
	defer func() {
		if cerr := src.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("change stream close: %w", cerr)
		}
	}()
	if err := checkPublication(ctx, db, cfg.Publication, tab); err != nil {
		return err
	}
	if err := dir.load(ctx); err != nil {
		return err
	}

	f, err := fhirsync.NewFacade(dir.fetch, &fhirsync.FacadeOptions{
		TTL:         cfg.TTL,
		NotFoundTTL: cfg.NotFoundTTL,
		Types:       servedTypes,
		Search:      dir.search,
		Logger:      log,
	})
	if err != nil {
		return err
	}
	dir.invalidate = f.Invalidate

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           accessLog(log, handler(f)),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	streamCtx, stopStream := context.WithCancel(ctx)
	defer stopStream()
	streamDone := make(chan error, 1)
	go func() {
		streamDone <- fhirsync.Run(streamCtx, src, dir, f.Sink(), &fhirsync.Options{
			BatchWait: 10 * time.Millisecond,
			// A failed pgsource stream never recovers (Read repeats its
			// error): stop at once rather than serve a cache nothing
			// invalidates any more.
			MaxReadAttempts: 1,
			// Invalidating is idempotent and order-free: no version to guard.
			DisableStaleGuard: true,
			Retryable:         retryable,
			Reject:            logRejecter(log),
			Logger:            log,
		})
	}()
	serveDone := make(chan error, 1)
	go func() { serveDone <- srv.Serve(ln) }()
	log.Info("facade: serving", slog.String("addr", ln.Addr().String()), slog.String("table", tab.String()),
		slog.String("slot", slot), slog.Bool("temporary_slot", !cfg.PermanentSlot), slog.String("publication", cfg.Publication))
	if cfg.OnReady != nil {
		cfg.OnReady(ln.Addr().String())
	}

	var failure error
	select {
	case <-ctx.Done():
		log.Info("facade: shutting down")
	case err := <-streamDone:
		streamDone <- err
		if err == nil {
			err = errors.New("the source ended")
		}
		failure = fmt.Errorf("change stream stopped: %w", err)
	case err := <-serveDone:
		serveDone <- err
		failure = fmt.Errorf("http: %w", err)
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("facade: requests cut at shutdown", slog.String("error", err.Error()))
	}
	<-serveDone
	stopStream()
	<-streamDone
	return failure
}

// checkPublication fails when the publication does not publish the table:
// the cache would then never learn of a change.
func checkPublication(ctx context.Context, db *pool, publication string, tab table) error {
	var n int
	err := db.with(ctx, func(c *pgx.Conn) error {
		return c.QueryRow(ctx, `SELECT count(*) FROM pg_publication_tables WHERE pubname = $1 AND schemaname = $2 AND tablename = $3`,
			publication, tab.schema, tab.name).Scan(&n)
	})
	if err != nil {
		return wrapDB("publication lookup", err)
	}
	if n == 0 {
		return fmt.Errorf("publication %s does not publish %s: ALTER PUBLICATION %s ADD TABLE %s, or name another with -publication",
			publication, tab.String(), quoteIdent(publication), tab.ident())
	}
	return nil
}

// retryable tells fhirsync.Run which conversion failures to retry: a
// database that could not answer a refresh, besides its defaults.
func retryable(err error) bool {
	var de *dbError
	return errors.As(err, &de) || fhirsync.IsRetryable(err)
}

// logRejecter records a rejection (a change that cannot be used) in the
// log: there is nothing to write for a cache, and the cache entries are
// bounded by -ttl anyway.
func logRejecter(log *slog.Logger) fhirsync.Rejecter {
	return fhirsync.RejecterFunc(func(ctx context.Context, r *fhirsync.Rejection) error {
		log.LogAttrs(ctx, slog.LevelWarn, "facade: change rejected", slog.Any("rejection", r))
		return nil
	})
}

// handler puts in front of the Facade what it does not do itself: a
// health check, and a 400 for searches this service cannot answer (the
// Facade answers a failed search with 502).
func handler(f *fhirsync.Facade) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		path := strings.Trim(r.URL.Path, "/")
		if (r.Method == http.MethodGet || r.Method == http.MethodHead) && slices.Contains(servedTypes, path) {
			if _, err := searchNPIs(r.URL.Query()); err != nil {
				outcome(w, http.StatusBadRequest, "not-supported",
					"searches take identifier=http://hl7.org/fhir/sid/us-npi|NPI (up to 50 values, comma-separated) and nothing else")
				return
			}
		}
		f.ServeHTTP(w, r)
	})
	return mux
}

// outcome answers an OperationOutcome with a fixed text.
func outcome(w http.ResponseWriter, status int, code, text string) {
	b, _ := json.Marshal(map[string]any{
		"resourceType": "OperationOutcome",
		"issue":        []any{map[string]any{"severity": "error", "code": code, "diagnostics": text}},
	})
	w.Header().Set("Content-Type", "application/fhir+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// accessLog logs each request: method, resource type, id, status and
// duration. A path is the client's text, which could hold anything: only a
// served type and an id of fhirsync's shape (a keyed hash) are logged as
// they are. The query string is left out: it holds search values.
func accessLog(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(sw, r)
		attrs := []slog.Attr{slog.String("method", r.Method)}
		typ, id, hasID := strings.Cut(strings.Trim(r.URL.Path, "/"), "/")
		switch {
		case slices.Contains(servedTypes, typ) || typ == "metadata" || typ == "healthz":
			attrs = append(attrs, slog.String("type", typ))
		default:
			attrs = append(attrs, slog.String("type", "(other)"))
		}
		switch {
		case !hasID:
		case generatedID.MatchString(id):
			attrs = append(attrs, slog.String("id", id))
		default:
			attrs = append(attrs, slog.String("id", "(other)"))
		}
		attrs = append(attrs, slog.Bool("search", r.URL.RawQuery != ""), slog.Int("status", sw.status), slog.Duration("took", time.Since(start)))
		log.LogAttrs(r.Context(), slog.LevelInfo, "http", attrs...)
	})
}

// generatedID matches the ids fhirmap.IDs gives (fhirmap.IDPrefixed).
var generatedID = regexp.MustCompile(`^[a-z]{2,8}-[a-z2-7]{26}$`)

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
