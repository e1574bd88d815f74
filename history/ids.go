package history

import (
	"strings"

	"github.com/google/uuid"
)

// NewID returns a new random id in the form DurableTask.Core gives the
// instance ids and execution ids it makes (C#'s Guid.NewGuid().ToString("N")):
// a random UUID's 32 lower-case hex digits, without dashes. The client's new
// instance ids, schedule revisions and every host's new execution ids are
// made here.
func NewID() string { return strings.ReplaceAll(uuid.NewString(), "-", "") }
