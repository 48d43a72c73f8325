package graft

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/graftlib/graft/election"
)

// slogLevel maps the election's log levels onto slog's.
func slogLevel(l election.LogLevel) slog.Level {
	switch l {
	case election.LogDebug:
		return slog.LevelDebug
	case election.LogInfo:
		return slog.LevelInfo
	case election.LogWarn:
		return slog.LevelWarn
	default:
		return slog.LevelError
	}
}

// lowestEnabled is the least severe election level lg accepts, so that
// the election does not even format the lines lg would drop.
func lowestEnabled(lg *slog.Logger) election.LogLevel {
	for _, l := range []election.LogLevel{election.LogDebug, election.LogInfo, election.LogWarn} {
		if lg.Enabled(context.Background(), slogLevel(l)) {
			return l
		}
	}
	return election.LogError
}

// transportLogf routes the transport's diagnostic lines (connections made
// and lost, already escaped) to lg at debug level.
func transportLogf(lg *slog.Logger, id string) func(string, ...any) {
	if lg == nil {
		return nil
	}
	return func(format string, args ...any) {
		if lg.Enabled(context.Background(), slog.LevelDebug) {
			lg.Debug(fmt.Sprintf(format, args...), "node", id)
		}
	}
}
