/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Glue between the C device model and the simulated VideoCore (vpu_sim.rs).
 *
 * The VCHIQ client API the simulator exports is implemented in Rust with the prototypes of
 * <linux/raspberrypi/vchiq.h>, which this header includes so the C compiler sees them next to
 * the EXPORT_SYMBOL()s in vpu_sim_shim.c.
 */
#ifndef VCSM_VPU_SIM_SHIM_H
#define VCSM_VPU_SIM_SHIM_H

#include <linux/types.h>
#include <linux/raspberrypi/vchiq.h>

struct device;

/* Implemented in C: the "vchiq-bus" bus type and the "vcsm,vpu-sim" platform driver. */
int vpu_sim_driver_register(void);
void vpu_sim_driver_unregister(void);

/*
 * The VPU's view of memory: translate bus address @bus (@size bytes) to a physical address
 * through the dma-ranges of the simulator's node, as copied at probe (@dev is the simulator's
 * platform device). Returns 0,
 * -ERANGE if the range is not (wholly, contiguously) mapped, -EFAULT if it is not System RAM,
 * -EINVAL for an empty or wrapping range.
 */
int vpu_sim_bus_to_phys(struct device *dev, u64 bus, u64 size, u64 *phys);

/* The simulator context owning @state (a vchiq_drv_mgmt's state it created), or NULL. */
void *vpu_sim_state_ctx(struct vchiq_state *state);

/*
 * vchiq_initialise()'s wait for the VideoCore on the simulator owning @state: 0 once it is up,
 * -ENOTCONN after 10 polls of 500-600 us (debugfs `connected off`).
 */
int vpu_sim_wait_up(struct vchiq_state *state);

/*
 * The connection (@pdev is the simulator's platform device). `on`: the VPU comes up and the
 * deferred connected callbacks run under drv_mgmt->connected_mutex, as VCHIQ's
 * vchiq_call_connected_callbacks() does; `off`: back to the state before the connection
 * (new callbacks are deferred, vchiq_initialise() fails). -EINTR on a fatal signal.
 */
int vpu_sim_set_connected(struct device *pdev, bool on);

/* What the state file shows about the connection; the Rust side mirrors the layout. */
struct vpu_sim_conn_info {
	u32 connected;
	u32 remote_up;
	u32 deferred;
	u32 pad;
	u64 immediate;
	u64 deferred_run;
	u64 over_limit;
	u64 dropped;
};
#define VPU_SIM_CONN_INFO_SIZE 48

void vpu_sim_conn_info(struct device *pdev, struct vpu_sim_conn_info *info);

/* Verdicts of vpu_sim_check_host_pages(); the Rust side (vpu_mem.rs) has their words. */
enum {
	VPU_SIM_PAGES_OK = 0,
	VPU_SIM_PAGES_UNALIGNED = 1,
	VPU_SIM_PAGES_CMA_EDGE = 2,
	VPU_SIM_PAGES_NOT_BLOCK = 3,
	VPU_SIM_PAGES_NO_PAGE = 4,
	VPU_SIM_PAGES_FREE = 5,
	VPU_SIM_PAGES_SLAB = 6,
	VPU_SIM_PAGES_COMPOUND = 7,
	VPU_SIM_PAGES_RESERVED = 8,
	VPU_SIM_PAGES_USER = 9,
	VPU_SIM_PAGES_UNREFERENCED = 10,
	VPU_SIM_PAGES_SPLIT = 11,
};

/*
 * Whether physical range [@phys, @phys + @size) is memory a host driver allocated with the
 * DMA API and still holds (see vpu_sim_shim.c): VPU_SIM_PAGES_OK or a verdict, with *@offset
 * the offset of the offending page.
 */
int vpu_sim_check_host_pages(struct device *pdev, u64 phys, u64 size, u64 *offset);

/* Whether a log line about a bad host reply may be printed now (rate limit). */
bool vpu_sim_log_ratelimit(void);

/*
 * Implemented in Rust: set up the simulator for platform device @pdev (the VPU, whose DMA
 * range map is the VPU's bus view); *@ctx is handed back to vpu_sim_rust_remove().
 */
int vpu_sim_rust_probe(struct device *pdev, void **ctx);
void vpu_sim_rust_remove(void *ctx);

#endif /* VCSM_VPU_SIM_SHIM_H */
