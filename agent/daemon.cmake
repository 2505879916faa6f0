# SPDX-License-Identifier: MIT
# The ramp-agent executable (filled in with the daemon).
