package debezium_test

import (
	"io"
	"log/slog"
)

func logJSON(w io.Writer, v any) {
	slog.New(slog.NewJSONHandler(w, nil)).Info("event", "event", v)
	slog.New(slog.NewTextHandler(w, nil)).Info("event", "event", v)
}
