package history

import "errors"

// ErrDanglingLink is wrapped (KindPermission) by Open of a SQLite path that is a symbolic
// link to nothing.
var ErrDanglingLink = errors.New("a symbolic link to nothing")

// ErrOthersLink is wrapped (KindPermission) by Open of a SQLite path that is a symbolic link
// owned by another user (not root).
var ErrOthersLink = errors.New("a symbolic link owned by another user")
