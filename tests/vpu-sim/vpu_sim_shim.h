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
 * Implemented in Rust: set up the simulator for platform device @pdev (the VPU, whose DMA
 * range map is the VPU's bus view); *@ctx is handed back to vpu_sim_rust_remove().
 */
int vpu_sim_rust_probe(struct device *pdev, void **ctx);
void vpu_sim_rust_remove(void *ctx);

#endif /* VCSM_VPU_SIM_SHIM_H */
