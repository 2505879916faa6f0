/* SPDX-License-Identifier: MIT */
/*
 * `ramp`: the process entry point. Global library set-up, then
 * cli_main(), which the unit test drives directly. Not here: anything
 * that could be tested without a process.
 */
#include <stdio.h>

#include <curl/curl.h>

#include "cli.h"

extern char **environ;

int
main(int argc, char **argv)
{
    int rc;

    /* Once, before any thread exists (libcurl's rule). */
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "error: cannot initialise libcurl\n");
        return CLI_EXIT_ERROR;
    }
    rc = cli_main(argc, argv, environ, stdout, stderr);
    curl_global_cleanup();
    return rc;
}
