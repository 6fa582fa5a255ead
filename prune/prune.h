/* prune: the public interface of the prune library's plans and writer in one include, for
 * callers that use both: plan.h (plans, counts, in-memory application, the prune_error codes)
 * and writer.h (the atomic pruned-checkpoint writer). */
#ifndef YOPO_PRUNE_H
#define YOPO_PRUNE_H

#include "plan.h"
#include "writer.h"

#endif
