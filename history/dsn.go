package history

import (
	"net/url"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/shakedown-dev/shakedown"
)

// Driver says which database a DSN names.
type Driver string

// The drivers. The zero Driver is the default store: DefaultFile in the state dir.
const (
	DriverDefault  Driver = ""
	DriverOff      Driver = "off"
	DriverSQLite   Driver = "sqlite"
	DriverPostgres Driver = "postgres"
)

// DefaultFile is the name of the default store, a SQLite file in the state dir.
const DefaultFile = "history.db"

// EnvVar names the environment variable that says which store to use when --history does not.
const EnvVar = "SHAKEDOWN_HISTORY"

// DSN names a history store: a SQLite file, a PostgreSQL database, or none.
type DSN struct {
	Driver Driver
	// Path is the SQLite file, or the PostgreSQL connection URL.
	Path string
}

// ParseDSN reads a store name: "" (the default store), "off", a path, "sqlite:PATH",
// "postgres://…" or "postgresql://…". Anything else with a scheme is refused (KindInvalid).
func ParseDSN(s string) (DSN, error) {
	switch {
	case s == "":
		return DSN{}, nil
	case s == "off":
		return DSN{Driver: DriverOff}, nil
	case strings.HasPrefix(s, "postgres://"), strings.HasPrefix(s, "postgresql://"):
		u, err := url.Parse(s)
		if err != nil && shakedown.HasUserinfo(s) {
			// net/url's error quotes pieces of the user and password: not shown.
			return DSN{}, shakedown.Errorf(shakedown.KindInvalid,
				"history store %s: not a URL (a password with / ? # @ or a space in it must be %%-escaped)", shakedown.RedactURL(s))
		}
		if err != nil {
			return DSN{}, shakedown.Errorf(shakedown.KindInvalid, "history store %s: %v", shakedown.RedactURL(s), stripURLError(err))
		}
		if ambiguousUserinfo(s) {
			// net/url ends the user and password at the last @ before the path, the driver
			// (as libpq) at the first: they would disagree on the password and the host, and
			// the driver's errors would show a piece of the password as a host name.
			return DSN{}, shakedown.Errorf(shakedown.KindInvalid,
				"history store %s: the user and password hold an @, ? or # that is not %%-escaped (write @ as %%40, ? as %%3F, # as %%23)", shakedown.RedactURL(s))
		}
		if u.Host == "" && u.Query().Get("host") == "" {
			return DSN{}, shakedown.Errorf(shakedown.KindInvalid, "history store %s: no host", shakedown.RedactURL(s))
		}
		return DSN{Driver: DriverPostgres, Path: s}, nil
	case strings.HasPrefix(s, "sqlite:"):
		p := strings.TrimPrefix(strings.TrimPrefix(s, "sqlite:"), "//")
		if p == "" {
			return DSN{}, shakedown.Errorf(shakedown.KindInvalid, "history store %q: sqlite: needs a file path", s)
		}
		return DSN{Driver: DriverSQLite, Path: p}, nil
	case keywordDSN.MatchString(s):
		// Not shown: it may hold a password, and it is no file path anyone meant.
		return DSN{}, shakedown.Errorf(shakedown.KindInvalid,
			"history store: a PostgreSQL keyword=value connection string is not taken: write it as postgres://user:password@host:port/dbname?sslmode=…")
	case strings.Contains(s, "://"):
		scheme, _, _ := strings.Cut(s, "://")
		return DSN{}, shakedown.Errorf(shakedown.KindInvalid,
			"history store %s: unknown kind of store %q: want a file path, sqlite:PATH, postgres://… or off", shakedown.RedactURL(s), scheme)
	}
	return DSN{Driver: DriverSQLite, Path: s}, nil
}

// keywordDSN matches a PostgreSQL connection string of keyword=value pairs ("host=db
// password=…"), which would otherwise be taken for the name of a SQLite file: a file named
// after the password, and the password printed wherever the store is named.
var keywordDSN = regexp.MustCompile(`(?i)(^|\s)(host|hostaddr|port|dbname|user|password|passfile|sslmode|sslpassword|service|connect_timeout|target_session_attrs)\s*=`)

// ambiguousUserinfo reports whether net/url and the driver read different users and
// passwords in a postgres:// URL: net/url ends them at the last @ before the first of / ? #,
// the driver (as libpq) at the first @ before a /. They differ when an @, ? or # in the
// password is not %-escaped.
func ambiguousUserinfo(s string) bool {
	_, rest, _ := strings.Cut(s, "://")
	var driver, netURL string
	if i := strings.IndexAny(rest, "@/"); i >= 0 && rest[i] == '@' {
		driver = rest[:i]
	}
	auth := rest
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		auth = rest[:i]
	}
	if i := strings.LastIndex(auth, "@"); i >= 0 {
		netURL = auth[:i]
	}
	return driver != netURL
}

// stripURLError drops url.Error's repetition of the URL, which may hold a password.
func stripURLError(err error) error {
	if ue, ok := err.(*url.Error); ok {
		return ue.Err
	}
	return err
}

// In resolves the default store to DefaultFile in stateDir; other DSNs are returned as they are.
func (d DSN) In(stateDir string) DSN {
	if d.Driver == DriverDefault {
		return DSN{Driver: DriverSQLite, Path: filepath.Join(stateDir, DefaultFile)}
	}
	return d
}

// Off reports whether the DSN says not to keep a history.
func (d DSN) Off() bool { return d.Driver == DriverOff }

// String names the store for messages, its password hidden.
func (d DSN) String() string {
	switch d.Driver {
	case DriverDefault:
		return "the default store"
	case DriverOff:
		return "off"
	case DriverPostgres:
		return shakedown.RedactURL(d.Path)
	}
	return d.Path
}
