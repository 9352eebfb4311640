// Package udevwatch reports block devices as they come and go, from udev
// or kernel uevents read off a netlink socket.
package udevwatch
