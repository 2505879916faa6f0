# SPDX-License-Identifier: MIT
# Unit suites registered by the engine work.
