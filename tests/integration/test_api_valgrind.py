#!/usr/bin/env python3
"""The API test files again, with taskq-api under valgrind (memcheck, leak
check, definite leaks as errors): each file's tests run against a fresh
stack, then taskq-api must exit 0 on SIGTERM with an empty valgrind log.
The concurrency test runs smaller here (valgrind serializes threads).
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stack import Suite  # noqa: E402
import test_api  # noqa: E402
import test_api_busy  # noqa: E402
import test_api_concurrency  # noqa: E402
import test_api_files  # noqa: E402
import test_api_input  # noqa: E402
import test_api_lifecycle  # noqa: E402
import test_api_list  # noqa: E402

if __name__ == "__main__":
    if os.environ.get("TASKQ_SANITIZERS") == "1":
        # valgrind cannot run a program built with AddressSanitizer.
        print("SKIP: taskq-api is built with AddressSanitizer (TASKQ_SANITIZERS=1), "
              "which valgrind cannot run; the plain build runs this test")
        print("0 passed, 0 failed")
        sys.exit(77)
    suite = Suite("test_api_valgrind")
    test_api_concurrency.THREADS = 8
    test_api_concurrency.PER_THREAD = 10
    for mod in (test_api, test_api_input, test_api_list, test_api_files, test_api_lifecycle,
                test_api_busy, test_api_concurrency):
        name = mod.__name__
        print("== %s under valgrind" % name)
        test_api.run(name, mod.make_tests, mod.STACK_OPTIONS, valgrind=True, suite=suite)
    suite.finish()
