// libsystemd's service-manager protocol (sd_notify(3), sd_watchdog_enabled(3))
// for Swift. Swift imports sd-daemon.h as it is; this header only names it.
#ifndef CSYSTEMD_H
#define CSYSTEMD_H

#include <systemd/sd-daemon.h>

#endif
