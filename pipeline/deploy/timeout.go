package deploy

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"time"

	"github.com/hubploy/hubploy/pipeline/inputerr"
)

// DefaultTimeout is how long a deploy waits for its resources to be ready.
const DefaultTimeout = 10 * time.Minute

// tooLong matches the numbers and durations that are well formed, so that when they
// fail to parse it is because they overflow.
var tooLong = regexp.MustCompile(`^[0-9]+$|^[0-9.]+(ns|us|µs|ms|s|m|h)([0-9.]+(ns|us|µs|ms|s|m|h))*$`)

// ParseTimeout reads a timeout as hubploy 0.3's --timeout took it (and helm 2's): a
// duration (30m, 90s) or a bare number of seconds. It must be positive: 0 is refused
// rather than read as "no wait", "forever" or "the default", which each caller would
// guess differently; and it must fit a time.Duration (about 292 years), which a
// number of seconds times a second could silently overflow into a negative wait.
func ParseTimeout(s string) (time.Duration, error) {
	bad := func(msg string) error {
		return &inputerr.Error{Key: "--timeout", Msg: fmt.Sprintf("%q %s", s, msg), Hint: "for example 30m, 90s or 600 (seconds); the default is " + DefaultTimeout.String()}
	}
	var d time.Duration
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n > math.MaxInt64/int64(time.Second) {
			return 0, bad("is longer than hubploy can wait")
		}
		d = time.Duration(n) * time.Second
	} else if d, err = time.ParseDuration(s); err != nil {
		if tooLong.MatchString(s) {
			return 0, bad("is longer than hubploy can wait")
		}
		return 0, bad("is neither a duration (30m, 90s) nor a number of seconds")
	}
	switch {
	case d < 0:
		return 0, bad("is negative")
	case d == 0:
		return 0, bad("would not wait at all")
	}
	return d, nil
}
