-- Argo CD health check for serving.modeldeploy.io/ModelDeployment.
-- Install it under resource.customizations.health.serving.modeldeploy.io_ModelDeployment in argocd-cm
-- (see argocd-cm-patch.yaml). It reads the status the way kstatus (Flux, kpt) does: nothing is trusted
-- until the operator has observed the current generation; then Stalled (or Degraded) means Degraded,
-- Reconciling means Progressing, and Ready means Healthy. Ready is True only when the latest generation
-- is in effect, so a spec that cannot be applied never shows Healthy.
local hs = {}
local generation = 0
if obj.metadata ~= nil and obj.metadata.generation ~= nil then
  generation = obj.metadata.generation
end

if obj.status == nil or obj.status.observedGeneration == nil or obj.status.observedGeneration ~= generation then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe generation " .. string.format("%d", generation)
  return hs
end

local found = {}
if obj.status.conditions ~= nil then
  for _, condition in ipairs(obj.status.conditions) do
    if condition.type ~= nil then
      found[condition.type] = condition
    end
  end
end

local function is_true(kind)
  return found[kind] ~= nil and found[kind].status == "True"
end

local function describe(condition, fallback)
  if condition ~= nil and condition.message ~= nil and condition.message ~= "" then
    return condition.message
  end
  if condition ~= nil and condition.reason ~= nil and condition.reason ~= "" then
    return condition.reason
  end
  return fallback
end

if is_true("Stalled") or is_true("Degraded") then
  hs.status = "Degraded"
  local cause = found["Stalled"]
  if not is_true("Stalled") then
    cause = found["Degraded"]
  end
  hs.message = describe(cause, "The ModelDeployment needs a fix")
  -- Say whether the model still serves (an earlier spec keeps running while the latest cannot apply).
  if is_true("Available") and found["Available"].message ~= nil and found["Available"].message ~= "" then
    hs.message = hs.message .. " Still serving: " .. found["Available"].message
  end
  return hs
end

if is_true("Ready") and not is_true("Reconciling") then
  hs.status = "Healthy"
  hs.message = describe(found["Ready"], "The ModelDeployment is ready")
  return hs
end

hs.status = "Progressing"
if is_true("Reconciling") then
  hs.message = describe(found["Reconciling"], "The operator is reconciling the latest generation")
else
  hs.message = describe(found["Ready"], "Waiting for the Ready condition")
end
return hs
