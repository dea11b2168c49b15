// Calls the runtime's C API: loading a bundle that does not exist fails
// with a message.
#include "skipattn/runtime.h"

#include <stdio.h>

int main(void) {
  skipattn_bundle *bundle = NULL;
  skipattn_status status = skipattn_bundle_load("/nonexistent-bundle", &bundle);
  printf("%s: %s\n", skipattn_status_name(status), skipattn_last_error());
  return status == SKIPATTN_OK ? 1 : 0;
}
