package history

import (
	"strings"
	"time"

	"github.com/azdurable/azdurable/internal/netjson"
)

type timeValue = time.Time

// parseTimeKeepOffset parses a DateTimeOffset, keeping its offset so that it
// is written back as it came.
func parseTimeKeepOffset(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.Truncate(100 * time.Nanosecond), nil
	}
	return netjson.ParseTime(s)
}
