# SPDX-License-Identifier: MIT
# Unit suites registered by the rollout work.
