# SPDX-License-Identifier: MIT
# Unit suites registered by the pkg work.
