// CAF's test DSL runs inside GoogleTest (STYLE.md): this translation unit, and only this one, holds
// the CAF test engine's definitions; GoogleTest's main runs the tests.
#define CAF_TEST_NO_MAIN
#include <caf/test/unit_test_impl.hpp>
