// Package config loads, validates and writes the extdrive configuration
// file (TOML, /etc/extdrive/config.toml by default).
//
// The file declares the directories to back up, the set of encrypted
// drives that take turns holding the off-site copy, the schedule, the copy
// mode, hooks, notifications, the LED and spindown. Load rejects anything
// it does not understand: an unknown or misspelt key is an error naming the
// file, line and key, because a typo that silently disabled the failure
// notification would only be noticed when a backup is needed.
//
// Writers (extdrive import and prepare) add drives with AddDrive, which
// appends a [[drive]] block to the file as text so that the user's
// comments and layout survive, and refuses to write a file that would no
// longer load.
package config
