// SPDX-License-Identifier: MIT
#include <stdio.h>

#include "tcpack/agent.h"

unsigned int tcpack_agent_weight(unsigned long conns, unsigned long max_conns)
{
	unsigned long pct;

	if (!max_conns)
		return 100;
	if (conns >= max_conns)
		return 1;
	pct = (max_conns - conns) * 100 / max_conns;
	return pct ? (unsigned int)pct : 1;
}

bool tcpack_agent_drains(const struct tcpack_agent_state *st)
{
	return st->stuck_worker < 0 && st->admin != TCPACK_ADMIN_MAINT &&
	       (st->admin == TCPACK_ADMIN_DRAIN || st->stopping);
}

size_t tcpack_agent_reply(const struct tcpack_agent_state *st, char *buf)
{
	int n;

	if (st->stuck_worker >= 0)
		n = snprintf(buf, TCPACK_AGENT_REPLY_MAX, "down#worker %d not responding\n",
			     st->stuck_worker);
	else if (st->admin == TCPACK_ADMIN_MAINT)
		n = snprintf(buf, TCPACK_AGENT_REPLY_MAX, "up maint\n");
	else if (tcpack_agent_drains(st))
		n = snprintf(buf, TCPACK_AGENT_REPLY_MAX, "up drain\n");
	else
		n = snprintf(buf, TCPACK_AGENT_REPLY_MAX, "up ready %u%%\n",
			     tcpack_agent_weight(st->conns, st->max_conns));
	return n < 0 ? 0 : (size_t)n < TCPACK_AGENT_REPLY_MAX ? (size_t)n : TCPACK_AGENT_REPLY_MAX - 1;
}
